"""ARM's uniqueString(): the arguments joined with '-', hashed with the MurmurHash64 variant of
Azure's resource stack (two 32-bit lanes, seed 0), the 64-bit result written as 13 base32
characters (RFC 4648 alphabet, lower case), most significant bits first.

Note: this is NOT Appleby's MurmurHash64A (which e.g. PowerShell DSC's uniqueString uses and
which gives different strings); it is MurmurHash3-x86-128's mixing on two 32-bit lanes, keeping
64 bits. Written from the published description of the algorithm; checked against vectors from a
public reimplementation and one asserted by a test that runs Microsoft's
Azure.Deployments.Expression library (tests/standin/test_arm_eval.py)."""

_M32 = 0xFFFFFFFF
_C1, _C2 = 0xAB0E9789, 0x239B961B  # 2869860233, 597399067
_F1, _F2 = 0x85EBCA6B, 0xC2B2AE35  # fmix32 constants
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def _rotl(x, r):
    x &= _M32
    return ((x << r) | (x >> (32 - r))) & _M32


def _fmix(h):
    h = ((h ^ (h >> 16)) * _F1) & _M32
    h = ((h ^ (h >> 13)) * _F2) & _M32
    return h ^ (h >> 16)


def murmur64(data: bytes, seed: int = 0) -> int:
    n = len(data)
    h1 = h2 = seed & _M32
    i = 0
    while i + 8 <= n:
        k1 = int.from_bytes(data[i : i + 4], "little")
        k2 = int.from_bytes(data[i + 4 : i + 8], "little")
        h1 ^= (_rotl(k1 * _C2, 15) * _C1) & _M32
        h1 = (_rotl(h1, 19) + h2) & _M32
        h1 = (h1 * 5 + 0x561CCD1B) & _M32
        h2 ^= (_rotl(k2 * _C1, 17) * _C2) & _M32
        h2 = (_rotl(h2, 13) + h1) & _M32
        h2 = (h2 * 5 + 0x0BCAA747) & _M32
        i += 8
    rest = n - i
    if rest:
        k1 = int.from_bytes(data[i : i + min(rest, 4)], "little")
        h1 ^= (_rotl(k1 * _C2, 15) * _C1) & _M32
        if rest > 4:
            k2 = int.from_bytes(data[i + 4 : n], "little")
            h2 ^= (_rotl(k2 * _C1, 17) * _C2) & _M32
    h2 = (h2 ^ n) & _M32
    h1 = ((h1 ^ n) + h2) & _M32
    h2 = (h2 + h1) & _M32
    h1, h2 = _fmix(h1), _fmix(h2)
    h1 = (h1 + h2) & _M32
    h2 = (h2 + h1) & _M32
    return (h2 << 32) | h1


def unique_string(*values: str) -> str:
    h = murmur64("-".join(values).encode("utf-8"))
    out = []
    for _ in range(13):
        out.append(_ALPHABET[(h >> 59) & 31])
        h = (h << 5) & 0xFFFFFFFFFFFFFFFF
    return "".join(out)
