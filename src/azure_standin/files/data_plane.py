"""Azure Files data plane (path-style), enough for azure-storage-file-share to work unchanged.

`handle(request, account_key, share_dir_fn)` serves `/<account>/<share>/<dir>/<file>?...`.
The share's folder holds exactly the user's files (a container process reads it as /mount);
metadata and content headers live in a sidecar tree next to it:
`<share_dir.parent>/.<share_dir.name>.aitk-files/` (share.json, p/<relpath>.json).

Shared Key signatures are verified exactly as the SDK builds them (canonicalized resource
`/<account><url path as sent>`, i.e. `/<account>/<account>/<share>/...` for path-style URLs;
the service-style `/<account>/<share>/...` is accepted too).
"""

import base64
import datetime
import email.utils
import hashlib
import hmac
import json
import os
import re
import threading
import time
import unicodedata
import uuid
from functools import cmp_to_key
from pathlib import Path
from urllib.parse import unquote
from xml.sax.saxutils import escape, quoteattr

from ..http import Request, Response

XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>'
SERVER = "Windows-Azure-File/1.0 Microsoft-HTTPAPI/2.0"
DEFAULT_VERSION = "2025-11-05"
SHARE_QUOTA_GIB = 5120
CONTENT_HEADERS = [  # (request header on create/set-properties, response header, sidecar key)
    ("x-ms-content-type", "Content-Type", "content_type"),
    ("x-ms-content-encoding", "Content-Encoding", "content_encoding"),
    ("x-ms-content-language", "Content-Language", "content_language"),
    ("x-ms-cache-control", "Cache-Control", "cache_control"),
    ("x-ms-content-disposition", "Content-Disposition", "content_disposition"),
    ("x-ms-content-md5", "Content-MD5", "content_md5"),
]

# ---------------------------------------------------------------------------------------------
# Shared Key

# The service's header collation (same tables as the SDK's authentication.compare).
_LV0 = [0] * 33 + [
    0x71C,
    0x0,
    0x71F,
    0x721,
    0x723,
    0x725,
    0x0,
    0x0,
    0x0,
    0x72D,
    0x803,
    0x0,
    0x0,
    0x733,
    0x0,
    0xD03,
    0xD1A,
    0xD1C,
    0xD1E,
    0xD20,
    0xD22,
    0xD24,
    0xD26,
    0xD28,
    0xD2A,
    0x0,
    0x0,
    0x0,
    0x0,
    0x0,
    0x0,
    0x0,
    0xE02,
    0xE09,
    0xE0A,
    0xE1A,
    0xE21,
    0xE23,
    0xE25,
    0xE2C,
    0xE32,
    0xE35,
    0xE36,
    0xE48,
    0xE51,
    0xE70,
    0xE7C,
    0xE7E,
    0xE89,
    0xE8A,
    0xE91,
    0xE99,
    0xE9F,
    0xEA2,
    0xEA4,
    0xEA6,
    0xEA7,
    0xEA9,
    0x0,
    0x0,
    0x0,
    0x743,
    0x744,
    0x748,
    0xE02,
    0xE09,
    0xE0A,
    0xE1A,
    0xE21,
    0xE23,
    0xE25,
    0xE2C,
    0xE32,
    0xE35,
    0xE36,
    0xE48,
    0xE51,
    0xE70,
    0xE7C,
    0xE7E,
    0xE89,
    0xE8A,
    0xE91,
    0xE99,
    0xE9F,
    0xEA2,
    0xEA4,
    0xEA6,
    0xEA7,
    0xEA9,
    0x0,
    0x74C,
    0x0,
    0x750,
    0x0,
]
_LV4 = [0] * 128
_LV4[39] = 0x8012
_LV4[45] = 0x8212


def _collate(lhs: str, rhs: str) -> int:
    tables = [_LV0, _LV4]
    level, i, j = 0, 0, 0
    while level < 2:
        if level == 1 and i != j:
            return -1 if i > j else 1
        w1 = tables[level][ord(lhs[i])] if i < len(lhs) and ord(lhs[i]) < 128 else (0x1 if i >= len(lhs) else 0)
        w2 = tables[level][ord(rhs[j])] if j < len(rhs) and ord(rhs[j]) < 128 else (0x1 if j >= len(rhs) else 0)
        if w1 == 0x1 and w2 == 0x1:
            i = j = 0
            level += 1
        elif w1 == w2:
            i += 1
            j += 1
        elif w1 == 0:
            i += 1
        elif w2 == 0:
            j += 1
        else:
            return -1 if w1 < w2 else 1
    return 0


_SIGNED_STANDARD = [
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
]


def _raw_path_and_query(request: Request) -> tuple[str, str]:
    raw = request.raw_path or request.path
    path, _, query = raw.partition("?")
    return path, query


def string_to_sign(request: Request, account: str, resource_path: str) -> str:
    headers = {k.lower(): v for k, v in request.headers.items() if v}
    if headers.get("content-length") == "0":
        del headers["content-length"]
    parts = [request.method.upper()]
    for name in _SIGNED_STANDARD:
        # The SDK signs "byte_range", which never exists; a Range header is not signed.
        parts.append("" if name == "range" else headers.get(name, ""))
    s = "\n".join(parts) + "\n"
    xms = [(k.lower(), v) for k, v in request.headers.items() if k.lower().startswith("x-ms-")]
    by_name = dict(xms)
    for name in sorted(by_name, key=cmp_to_key(_collate)):
        s += f"{name}:{by_name[name]}\n"
    s += "/" + account + resource_path
    _, query = _raw_path_and_query(request)
    if query:
        q = {p[0]: p[-1] for p in [p.partition("=") for p in query.split("&")]}
        for name in sorted(q):
            s += "\n" + name.lower() + ":" + unquote(q[name])
    return s


def _sign(key_b64: str, s: str) -> str:
    key = base64.b64decode(key_b64)
    return base64.b64encode(hmac.new(key, s.encode("utf-8"), hashlib.sha256).digest()).decode()


def check_auth(request: Request, account: str, account_key: str) -> Response | None:
    auth = request.headers.get("Authorization") or ""
    if not auth:
        return _error(
            request,
            401,
            "NoAuthenticationInformation",
            "Server failed to authenticate the request. Please refer to the information "
            "in the www-authenticate header.",
        )
    scheme, _, cred = auth.partition(" ")
    name, _, sig = cred.partition(":")
    raw_path, _ = _raw_path_and_query(request)
    candidates = [raw_path]  # what the SDK signs for a path-style URL: /<account>/<share>/...
    if raw_path.startswith("/" + account + "/") or raw_path == "/" + account:
        candidates.append(raw_path[len(account) + 1 :] or "/")  # service-style
    date = request.headers.get("x-ms-date") or request.headers.get("Date")
    when = None
    try:
        when = email.utils.parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        when = None
    if when is None or abs(time.time() - when.timestamp()) > 15 * 60:
        return _error(
            request,
            403,
            "AuthenticationFailed",
            "Server failed to authenticate the request. Make sure the value of Authorization "
            "header is formed correctly including the signature.",
            extra=_auth_detail("Request date header " + ("too old: " + repr(date) if date else "not specified.")),
        )
    tried = []
    if scheme == "SharedKey" and name == account:
        for rp in candidates:
            sts = string_to_sign(request, account, rp)
            tried.append(sts)
            if hmac.compare_digest(_sign(account_key, sts), sig):
                return None
    sts = tried[0] if tried else ""
    return _error(
        request,
        403,
        "AuthenticationFailed",
        "Server failed to authenticate the request. Make sure the value of Authorization "
        "header is formed correctly including the signature.",
        extra=_auth_detail(
            f"The MAC signature found in the HTTP request {sig!r} is not the same as any computed signature. "
            f"Server used following string to sign: {sts!r}."
        ),
    )


def _auth_detail(text: str) -> str:
    return f"<AuthenticationErrorDetail>{escape(text)}</AuthenticationErrorDetail>"


# ---------------------------------------------------------------------------------------------
# Responses


def _now_http() -> str:
    return email.utils.formatdate(time.time(), usegmt=True)


def _iso7(ns: int) -> str:
    dt = datetime.datetime.fromtimestamp(ns // 1_000_000_000, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{(ns % 1_000_000_000) // 100:07d}Z"


def _base_headers(request: Request) -> dict[str, str]:
    return {
        "Server": SERVER,
        "x-ms-request-id": str(uuid.uuid4()),
        "x-ms-version": request.headers.get("x-ms-version") or DEFAULT_VERSION,
        "Date": _now_http(),
        **(
            {"x-ms-client-request-id": request.headers["x-ms-client-request-id"]}
            if request.headers.get("x-ms-client-request-id")
            else {}
        ),
    }


def _resp(request: Request, status: int, headers: dict | None = None, body=b"") -> Response:
    h = _base_headers(request)
    h.update(headers or {})
    if isinstance(body, (bytes, bytearray)):
        h.setdefault("Content-Length", str(len(body)))
    return Response(status, h, bytes(body) if isinstance(body, bytearray) else body)


def _error(request: Request, status: int, code: str, message: str, extra: str = "") -> Response:
    rid = str(uuid.uuid4())
    msg = f"{message}\nRequestId:{rid}\nTime:{datetime.datetime.utcnow().isoformat()}0Z"
    body = f"{XML_HEAD}<Error><Code>{code}</Code><Message>{escape(msg)}</Message>{extra}</Error>"
    h = _base_headers(request)
    h.update({"x-ms-request-id": rid, "x-ms-error-code": code, "Content-Type": "application/xml"})
    data = b"" if request.method == "HEAD" else body.encode()
    h["Content-Length"] = str(len(body.encode()))
    return Response(status, h, data)


def _xml(request: Request, status: int, xml: str, headers: dict | None = None) -> Response:
    h = {"Content-Type": "application/xml"}
    h.update(headers or {})
    return _resp(request, status, h, (XML_HEAD + xml).encode())


# ---------------------------------------------------------------------------------------------
# Sidecar store and locks

_locks_guard = threading.Lock()
_locks: dict[str, threading.Lock] = {}


def _lock_for(path: Path) -> threading.Lock:
    key = str(path)
    with _locks_guard:
        lk = _locks.get(key)
        if lk is None:
            lk = _locks[key] = threading.RLock()
        return lk


class Share:
    def __init__(self, name: str, root: Path):
        self.name = name
        self.root = Path(root)
        self.side = sidecar_dir(self.root)

    def resolve(self, names: list[str]) -> str:
        """The share-relative path of `names` with each component in the case it was created with.

        Names are case-preserving and case-insensitive (https://learn.microsoft.com/rest/api/
        storageservices/naming-and-referencing-shares--directories--files--and-metadata):
        `a.txt` finds a file created as `A.txt`, and creating `a.txt` then addresses that same file.
        A component that exists in no case keeps the case the request gave it."""
        folder, out = self.root, []
        for name in names:
            match = name
            if not (folder / name).exists():
                try:
                    folded = name.casefold()
                    match = next((n for n in sorted(os.listdir(folder)) if n.casefold() == folded), name)
                except OSError:  # the parent is missing or not a folder: the operation reports it
                    pass
            out.append(match)
            folder = folder / match
        return "/".join(out)

    def local(self, rel: str) -> Path:
        return self.root / rel if rel else self.root

    def side_path(self, rel: str) -> Path:
        return self.side / "share.json" if not rel else self.side / "p" / (rel + ".json")

    def props(self, rel: str) -> dict:
        """The sidecar of rel, if it belongs to the file or folder now at rel (same inode):
        a file replaced behind the data plane's back, or a share deleted and made again,
        does not inherit old metadata."""
        try:
            props = json.loads(self.side_path(rel).read_text())
            if "ino" in props and props["ino"] != self.local(rel).stat().st_ino:
                return {}
            return props
        except (OSError, ValueError):
            return {}

    def save_props(self, rel: str, props: dict):
        p = self.side_path(rel)
        try:
            props = dict(props, ino=self.local(rel).stat().st_ino)
        except OSError:
            pass
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + f".{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(props))
        os.replace(tmp, p)

    def drop_props(self, rel: str, is_dir: bool):
        try:
            self.side_path(rel).unlink()
        except OSError:
            pass
        if is_dir and rel:
            import shutil

            shutil.rmtree(self.side / "p" / rel, ignore_errors=True)


def sidecar_dir(share_dir) -> Path:
    """Where files.py keeps a share's metadata (outside the share's folder)."""
    share_dir = Path(share_dir)
    return share_dir.parent / f".{share_dir.name}.aitk-files"


def forget_share(share_dir) -> None:
    """Drop a deleted share's metadata (call it with the share's folder when the share goes)."""
    import shutil

    shutil.rmtree(sidecar_dir(share_dir), ignore_errors=True)


def _touch(path: Path):
    """Move mtime strictly forward so ETag / Last-Modified change on every write."""
    st = path.stat()
    new = max(time.time_ns(), st.st_mtime_ns + 1000)
    os.utime(path, ns=(st.st_atime_ns, new))


def _etag(st) -> str:
    return f'"0x{st.st_mtime_ns // 100:X}{st.st_size % 4096:03X}"'


def _stamp(st) -> dict[str, str]:
    """ETag and Last-Modified of a share, directory or file, as every write answers them."""
    return {"ETag": _etag(st), "Last-Modified": email.utils.formatdate(st.st_mtime, usegmt=True)}


def _meta_headers(props: dict) -> dict[str, str]:
    return {"x-ms-meta-" + k: v for k, v in (props.get("metadata") or {}).items()}


ENCRYPTED = {"x-ms-request-server-encrypted": "true"}  # on every write to a directory or file


def _entry_headers(share: Share, rel: str, st, props: dict, is_dir: bool) -> dict[str, str]:
    ctime = props.get("creation_ns", st.st_mtime_ns)
    parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
    try:
        parent_id = str(share.local(parent).stat().st_ino)
    except OSError:
        parent_id = "0"
    return {
        **_stamp(st),
        "x-ms-server-encrypted": "true",
        "x-ms-file-attributes": "Directory" if is_dir else "Archive",
        "x-ms-file-creation-time": _iso7(ctime),
        "x-ms-file-last-write-time": _iso7(st.st_mtime_ns),
        "x-ms-file-change-time": _iso7(st.st_mtime_ns),
        "x-ms-file-permission-key": "4066528134148476695*1",
        "x-ms-file-id": str(st.st_ino),
        "x-ms-file-parent-id": parent_id,
        **_meta_headers(props),
    }


def _metadata_from(request: Request) -> dict[str, str]:
    return {k[len("x-ms-meta-") :]: v for k, v in request.headers.items() if k.lower().startswith("x-ms-meta-")}


_METADATA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Directory and file names, as Azure Files' REST API enforces them (a violation is 400 InvalidResourceName,
# https://learn.microsoft.com/rest/api/storageservices/file-service-error-codes and
# https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-shares--directories--files--and-metadata):
# no " \ / : | < > * ?, no control characters (0x00-0x1F, C1 such as U+0081), no unpaired surrogates or
# code points like U+E000 that are not valid characters; each component at most 255 characters, the path at most
# 2,048 and 250 directories deep; and none of the reserved names below (compared case-insensitively, as names
# are). That list is the service's own: Windows/SMB clients refuse more (e.g. "CON.txt", a name ending in a
# space), which the REST API accepts, so the stand-in accepts them too.
_BAD_NAME_CHARS = set('"\\:|<>*?')
_BAD_NAME_CATEGORIES = {"Cc", "Cs", "Co"}
RESERVED_NAMES = {f"{dev}{n}" for dev in ("LPT", "COM") for n in range(1, 10)} | {"PRN", "AUX", "NUL", "CON", "CLOCK$"}
MAX_NAME_LEN = 255
MAX_PATH_LEN = 2048
MAX_PATH_DEPTH = 250


def _request_names(request: Request, segs: list[str]) -> list[str] | None:
    """The path components a request names, or None when one breaks Azure's naming rules.

    Without `x-ms-allow-trailing-dot: true` the service trims trailing dots from each component
    (https://learn.microsoft.com/rest/api/storageservices/create-file, x-ms-allow-trailing-dot), so `a.txt.`
    addresses `a.txt`."""
    if (request.headers.get("x-ms-allow-trailing-dot") or "").lower() != "true":
        segs = [s if s in (".", "..") else s.rstrip(".") for s in segs]
    if len("/".join(segs)) > MAX_PATH_LEN or len(segs) > MAX_PATH_DEPTH + 1:
        return None
    for name in segs:
        if not name or name in (".", "..") or len(name) > MAX_NAME_LEN or name.upper() in RESERVED_NAMES:
            return None
        if set(name) & _BAD_NAME_CHARS or any(unicodedata.category(c) in _BAD_NAME_CATEGORIES for c in name):
            return None
    return segs


MAX_RANGE = 4 * 1024 * 1024


def _invalid_metadata(request: Request) -> Response | None:
    """Metadata names must be C# identifiers; 8 KiB in all."""
    md = _metadata_from(request)
    total = sum(len(k) + len(v) for k, v in md.items())
    if any(not _METADATA_NAME.match(k) for k in md) or total > 8 * 1024:
        return _error(
            request,
            400,
            "InvalidMetadata",
            "The metadata specified is invalid. It has characters that are not permitted.",
        )
    return None


# ---------------------------------------------------------------------------------------------
# Entry point


def _get_share(share_dir_fn, name: str, create: bool = False) -> Path | None:
    if create:
        try:
            return share_dir_fn(name, create=True)
        except TypeError:
            pass
    return share_dir_fn(name)


def handle(request: Request, account_key: str, share_dir_fn, shares_fn=None) -> Response:
    """`shares_fn()`: {share name: quota in GiB} of the account's shares, as Resource Manager holds them
    (its FileShare shareQuota): List Shares lists them and Get Share Properties reports the quota."""
    try:
        return _handle(request, account_key, share_dir_fn, shares_fn or dict)
    except Exception as exc:  # pylint: disable=broad-exception-caught  # a stand-in bug: a 500, as the service
        import logging

        logging.getLogger("azure_standin.files").exception("files handler failed")
        return _error(
            request,
            500,
            "InternalError",
            f"Server encountered an internal error. Please try again after some time. ({exc!r})",
        )


# One early return per documented error response, in the order the service checks them.
def _handle(request: Request, account_key: str, share_dir_fn, shares_fn) -> Response:  # pylint: disable=too-many-return-statements
    path = request.path
    segs = [s for s in path.split("/") if s != ""]
    if not segs:
        return _error(request, 400, "InvalidUri", "The requested URI does not represent any resource on the server.")
    account = segs[0]
    if not account_key:
        return _error(request, 404, "ResourceNotFound", "The specified storage account does not exist.")
    denied = check_auth(request, account, account_key)
    if denied is not None:
        return denied
    q = {k.lower(): v for k, v in request.query.items()}
    restype, comp = q.get("restype", ""), q.get("comp", "")
    method = request.method.upper()
    if method == "PUT" and comp in ("", "metadata"):
        bad = _invalid_metadata(request)
        if bad is not None:
            return bad
    if len(segs) == 1:
        if comp == "list" and method == "GET" and not restype:
            return _list_shares(request, share_dir_fn, shares_fn(), q)
        return _service(request, restype, comp)
    share_name = segs[1]
    if restype == "share" and method == "PUT" and not comp:
        existing = share_dir_fn(share_name)
        if existing is not None and Path(existing).is_dir():
            return _error(request, 409, "ShareAlreadyExists", "The specified share already exists.")
        d = existing or _get_share(share_dir_fn, share_name, create=True)
        if d is None:
            return _error(
                request, 403, "AuthorizationFailure", "This request is not authorized to perform this operation."
            )
        Path(d).mkdir(parents=True, exist_ok=True)
        sh = Share(share_name, Path(d))
        sh.save_props("", {"metadata": _metadata_from(request), "creation_ns": time.time_ns()})
        st = sh.root.stat()
        return _resp(request, 201, _stamp(st))
    d = share_dir_fn(share_name)
    if d is None or not Path(d).is_dir():
        return _error(request, 404, "ShareNotFound", "The specified share does not exist.")
    share = Share(share_name, Path(d))
    names = _request_names(request, segs[2:])
    if names is None:
        return _error(request, 400, "InvalidResourceName", "The specifed resource name contains invalid characters.")
    rel = share.resolve(names)
    if restype == "share" and not rel:
        quota = {k.lower(): v for k, v in shares_fn().items()}.get(share_name.lower(), SHARE_QUOTA_GIB)
        return _share_ops(request, share, method, comp, quota)
    if restype == "directory":
        return _dir_ops(request, share, rel, method, comp, q)
    if comp in ("listhandles", "forceclosehandles"):
        return _handles(request, comp)
    return _file_ops(request, share, rel, method, comp)


def _service(request, restype, comp):
    if comp == "properties" and restype == "service" and request.method == "GET":
        return _xml(
            request,
            200,
            "<StorageServiceProperties><HourMetrics><Version>1.0</Version>"
            "<Enabled>false</Enabled><RetentionPolicy><Enabled>false</Enabled></RetentionPolicy>"
            "</HourMetrics><MinuteMetrics><Version>1.0</Version><Enabled>false</Enabled>"
            "<RetentionPolicy><Enabled>false</Enabled></RetentionPolicy></MinuteMetrics>"
            "<Cors /></StorageServiceProperties>",
        )
    return _error(
        request,
        400,
        "UnsupportedQueryParameter" if comp else "InvalidUri",
        "The stand-in does not implement this service-level operation.",
    )


def _list_shares(request, share_dir_fn, quotas: dict, q: dict) -> Response:
    """List Shares (https://learn.microsoft.com/rest/api/storageservices/list-shares): GET
    `?comp=list[&prefix=&marker=&maxresults=]` on the account, EnumerationResults with each share's
    Name and Properties (Last-Modified, Etag, Quota: the share's quota in GiB, Resource Manager's
    shareQuota), in name order."""
    prefix, marker = q.get("prefix", ""), q.get("marker", "")
    try:
        maxresults = int(q.get("maxresults") or 5000)
    except ValueError:
        return _error(request, 400, "InvalidQueryParameterValue", "Value for one of the query parameters is not valid.")
    names = sorted(n for n in quotas if n.startswith(prefix) and n >= marker)
    page, rest = names[:maxresults], names[maxresults:]
    items = []
    for n in page:
        d = share_dir_fn(n)
        if d is None or not Path(d).is_dir():
            continue
        st = Path(d).stat()
        items.append(
            f"<Share><Name>{escape(n)}</Name><Properties>"
            f"<Last-Modified>{email.utils.formatdate(st.st_mtime, usegmt=True)}</Last-Modified>"
            f"<Etag>{escape(_etag(st))}</Etag><Quota>{int(quotas[n])}</Quota>"
            "<AccessTier>TransactionOptimized</AccessTier><EnabledProtocols>SMB</EnabledProtocols>"
            "<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>"
            "</Properties></Share>"
        )
    host = request.headers.get("Host") or "127.0.0.1"
    xml = (
        f"<EnumerationResults ServiceEndpoint={quoteattr(f'https://{host}/')}>"
        + (f"<Prefix>{escape(prefix)}</Prefix>" if prefix else "")
        + (f"<Marker>{escape(marker)}</Marker>" if marker else "")
        + (f"<MaxResults>{maxresults}</MaxResults>" if q.get("maxresults") else "")
        + "<Shares>"
        + "".join(items)
        + "</Shares>"
        + f"<NextMarker>{escape(rest[0]) if rest else ''}</NextMarker></EnumerationResults>"
    )
    return _xml(request, 200, xml)


def _share_ops(request, share: Share, method, comp, quota=SHARE_QUOTA_GIB):
    props = share.props("")
    st = share.root.stat()
    if method in ("GET", "HEAD") and not comp:
        # x-ms-share-quota: "The quota for the share in gibibytes" (Get Share Properties,
        # https://learn.microsoft.com/rest/api/storageservices/get-share-properties): the shareQuota
        # Resource Manager holds for the share (FileShare.properties.shareQuota), one value.
        h = _stamp(st) | {
            "x-ms-share-quota": str(int(quota)),
            "x-ms-access-tier": "TransactionOptimized",
            "x-ms-enabled-protocols": "SMB",
            "x-ms-lease-state": "available",
            "x-ms-lease-status": "unlocked",
        }
        return _resp(request, 200, h | _meta_headers(props))
    if comp == "metadata" and method == "PUT":
        return _set_metadata(request, share, "", share.root)
    if comp == "metadata" and method in ("GET", "HEAD"):
        return _metadata_response(request, st, props)
    if comp == "stats" and method == "GET":
        total = sum(f.stat().st_size for f in share.root.rglob("*") if f.is_file())
        return _xml(request, 200, f"<ShareStats><ShareUsageBytes>{total}</ShareUsageBytes></ShareStats>")
    if comp == "properties" and method == "PUT":
        return _resp(request, 200, _stamp(st))
    return _error(
        request,
        400,
        "UnsupportedHttpVerb" if not comp else "InvalidQueryParameterValue",
        f"The stand-in does not implement {method} restype=share&comp={comp} .",
    )


def _parent_missing(share: Share, rel: str) -> bool:
    parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
    return not share.local(parent).is_dir()


def _parent_not_found(request):
    return _error(request, 404, "ParentNotFound", "The specified parent path does not exist.")


def _resource_not_found(request):
    return _error(request, 404, "ResourceNotFound", "The specified resource does not exist.")


def _already_exists(request):
    return _error(request, 409, "ResourceAlreadyExists", "The specified resource already exists.")


def _type_mismatch(request):
    return _error(
        request, 409, "ResourceTypeMismatch", "The specified resource type does not match the type of the resource."
    )


def _invalid_range(request):
    return _error(request, 416, "InvalidRange", "The range specified is invalid for the current size of the resource.")


def _not_found(request, share, rel):
    if _parent_missing(share, rel):
        return _parent_not_found(request)
    return _resource_not_found(request)


def _metadata_response(request, st, props):
    """Get Share / Directory / File Metadata: the stamp and the x-ms-meta-* headers."""
    return _resp(request, 200, _stamp(st) | _meta_headers(props))


def _set_metadata(request, share: Share, rel, p: Path, written: dict | None = None):
    """Set Share / Directory / File Metadata: replace the metadata, move the ETag; `written` adds the
    headers the directory and file operations answer with beside the stamp."""
    with _lock_for(p):
        props = share.props(rel)
        props["metadata"] = _metadata_from(request)
        share.save_props(rel, props)
        _touch(p)
    return _resp(request, 200, _stamp(p.stat()) | (written or {}))


# One early return per documented error response, in the order the service checks them.
def _dir_ops(request, share: Share, rel, method, comp, q):  # pylint: disable=too-many-return-statements
    p = share.local(rel)
    if comp == "list" and method == "GET":
        if not p.is_dir():
            return _not_found(request, share, rel)
        return _list(request, share, rel, q)
    if method == "PUT" and not comp:
        if not rel:
            return _already_exists(request)
        if _parent_missing(share, rel):
            return _parent_not_found(request)
        if p.exists():
            return _already_exists(request) if p.is_dir() else _type_mismatch(request)
        with _lock_for(p):
            try:
                p.mkdir()
            except FileExistsError:
                return _already_exists(request)
            share.save_props(rel, {"metadata": _metadata_from(request), "creation_ns": time.time_ns()})
        st = p.stat()
        return _resp(
            request,
            201,
            _entry_headers(share, rel, st, {"creation_ns": st.st_mtime_ns}, True) | ENCRYPTED,
        )
    if not p.is_dir():
        if p.exists() and method in ("GET", "HEAD"):
            # Get Directory Properties/Metadata on a file: the service answers 404 ResourceNotFound, as on a
            # missing path; az storage file upload/upload-batch rely on it (ShareDirectoryClient.exists() on the
            # uploaded file's path decides whether it names a file).
            return _resource_not_found(request)
        if p.exists():
            return _type_mismatch(request)
        return _not_found(request, share, rel)
    props = share.props(rel)
    if method in ("GET", "HEAD") and comp in ("", "metadata"):
        return _resp(request, 200, _entry_headers(share, rel, p.stat(), props, True))
    if method == "PUT" and comp == "metadata":
        return _set_metadata(request, share, rel, p, ENCRYPTED)
    if method == "PUT" and comp == "properties":
        with _lock_for(p):
            _touch(p)
        return _resp(request, 200, _entry_headers(share, rel, p.stat(), props, True) | ENCRYPTED)
    if method == "DELETE" and not comp:
        if not rel:
            return _error(request, 400, "InvalidUri", "The root directory cannot be deleted.")
        with _lock_for(p):
            try:
                p.rmdir()
            except OSError:
                if p.is_dir() and any(p.iterdir()):
                    return _error(request, 409, "DirectoryNotEmpty", "The specified directory is not empty.")
                raise
            share.drop_props(rel, True)
        return _resp(request, 202)
    return _error(
        request,
        400,
        "InvalidQueryParameterValue",
        f"The stand-in does not implement {method} restype=directory&comp={comp} .",
    )


def _list(request, share: Share, rel, q):
    p = share.local(rel)
    prefix = q.get("prefix") or ""
    marker = q.get("marker") or ""
    try:
        maxresults = int(q.get("maxresults") or 5000)
    except ValueError:
        return _error(request, 400, "InvalidQueryParameterValue", "maxresults is not a number.")
    if maxresults <= 0 or maxresults > 5000:
        return _error(
            request,
            400,
            "OutOfRangeQueryParameterValue",
            "One of the query parameters specified in the request URI is outside the permissible range.",
        )
    include = {s.strip().lower() for s in (q.get("include") or "").split(",") if s.strip()}
    extended = (request.headers.get("x-ms-file-extended-info") or "").lower() == "true"
    names = sorted(n for n in os.listdir(p) if n.startswith(prefix))
    if marker:
        names = [n for n in names if n >= marker]
    page, rest = names[:maxresults], names[maxresults:]
    next_marker = rest[0] if rest else ""
    dirs, files = [], []
    for n in page:
        entry = _list_entry(share, rel, p, n, include, extended)
        if entry is not None:
            is_dir, x = entry
            (dirs if is_dir else files).append(f"<Directory>{x}</Directory>" if is_dir else f"<File>{x}</File>")
    host = request.headers.get("Host") or "127.0.0.1"
    account = request.path.strip("/").split("/")[0]
    # a host-style request (https://{account}.file.{suffix}/...) names the account in its host
    endpoint = (
        f"https://{host}/" if host.lower().startswith(account.lower() + ".file.") else f"https://{host}/{account}/"
    )
    xml = (
        f"<EnumerationResults ServiceEndpoint={quoteattr(endpoint)} "
        f"ShareName={quoteattr(share.name)} DirectoryPath={quoteattr(rel)}>"
        + (f"<Marker>{escape(marker)}</Marker>" if marker else "")
        + (f"<Prefix>{escape(prefix)}</Prefix>" if prefix else "")
        + (f"<MaxResults>{maxresults}</MaxResults>" if q.get("maxresults") else "")
        + f"<DirectoryId>{p.stat().st_ino}</DirectoryId>"
        + "<Entries>"
        + "".join(dirs)
        + "".join(files)
        + "</Entries>"
        + (f"<NextMarker>{escape(next_marker)}</NextMarker>" if next_marker else "<NextMarker />")
        + "</EnumerationResults>"
    )
    return _xml(request, 200, xml)


def _list_entry(share: Share, rel, p: Path, n, include, extended):
    """(is a directory, the entry's XML) for child `n` of folder `p`; None when it went away meanwhile.
    include=timestamps,etag,attributes,permissionkey (version 2020-04-08 and later) adds those
    properties per entry: https://learn.microsoft.com/rest/api/storageservices/list-directories-and-files"""
    c = p / n
    try:
        st = c.stat()
    except OSError:
        return None
    is_dir = c.is_dir()
    props = share.props(f"{rel}/{n}" if rel else n)
    ctime = props.get("creation_ns", st.st_mtime_ns)
    x = f"<Name>{escape(n)}</Name>"
    if extended or include:
        x = f"<FileId>{st.st_ino}</FileId>" + x
    pr = "" if is_dir else f"<Content-Length>{st.st_size}</Content-Length>"
    if "timestamps" in include:
        pr += (
            f"<CreationTime>{_iso7(ctime)}</CreationTime><LastAccessTime>{_iso7(st.st_atime_ns)}</LastAccessTime>"
            f"<LastWriteTime>{_iso7(st.st_mtime_ns)}</LastWriteTime><ChangeTime>{_iso7(st.st_mtime_ns)}</ChangeTime>"
            f"<Last-Modified>{email.utils.formatdate(st.st_mtime, usegmt=True)}</Last-Modified>"
        )
    if "etag" in include:
        pr += f"<Etag>{escape(_etag(st))}</Etag>"
    x += f"<Properties>{pr}</Properties>" if pr else "<Properties />"
    if "attributes" in include:
        x += f"<Attributes>{'Directory' if is_dir else 'Archive'}</Attributes>"
    if "permissionkey" in include:
        x += "<PermissionKey>4066528134148476695*1</PermissionKey>"
    return is_dir, x


def _handles(request, comp):
    if comp == "listhandles":
        return _xml(request, 200, "<EnumerationResults><Entries /><NextMarker /></EnumerationResults>")
    return _resp(request, 200, {"x-ms-number-of-handles-closed": "0", "x-ms-number-of-handles-failed": "0"})


def _parse_range(value: str) -> tuple[int, int | None] | None:
    value = (value or "").strip()
    if not value.startswith("bytes="):
        return None
    a, _, b = value[6:].partition("-")
    try:
        return int(a), (int(b) if b.strip() else None)
    except ValueError:
        return None


# One early return per documented error response, in the order the service checks them.
def _file_ops(request, share: Share, rel, method, comp):  # pylint: disable=too-many-return-statements
    if not rel:
        return _error(request, 400, "InvalidUri", "The requested URI does not represent any resource on the server.")
    p = share.local(rel)
    if method == "PUT" and comp == "lease" and p.is_file():
        return _lease_file(request, share, rel, p)
    if method in ("PUT", "DELETE") and p.is_file():
        refused = _lease_refusal(request, share.props(rel))
        if refused is not None:
            return refused
    if method == "PUT" and not comp:
        return _create_file(request, share, rel, p)
    if p.is_dir():
        return _type_mismatch(request) if method in ("PUT", "DELETE") else _resource_not_found(request)
    if not p.is_file():
        return _not_found(request, share, rel)
    if method == "PUT" and comp == "range":
        return _put_range(request, p)
    if method == "GET" and not comp:
        return _get_file(request, share, rel, p)
    props = share.props(rel)
    if method == "HEAD" and not comp:
        st = p.stat()
        h = _file_headers(share, rel, st, props)
        h["Content-Length"] = str(st.st_size)
        return Response(200, {**_base_headers(request), **h}, b"")
    if comp == "metadata" and method in ("GET", "HEAD"):
        return _metadata_response(request, p.stat(), props)
    if comp == "metadata" and method == "PUT":
        return _set_metadata(request, share, rel, p, ENCRYPTED)
    if comp == "properties" and method == "PUT":
        return _set_file_properties(request, share, rel, p)
    if comp == "rangelist" and method == "GET":
        st = p.stat()
        rng = "" if st.st_size == 0 else f"<Range><Start>0</Start><End>{st.st_size - 1}</End></Range>"
        return _xml(
            request,
            200,
            f"<Ranges>{rng}</Ranges>",
            _stamp(st) | {"x-ms-content-length": str(st.st_size)},
        )
    if method == "DELETE" and not comp:
        with _lock_for(p):
            try:
                p.unlink()
            except FileNotFoundError:
                return _not_found(request, share, rel)
            share.drop_props(rel, False)
        return _resp(request, 202)
    return _error(
        request, 400, "InvalidQueryParameterValue", f"The stand-in does not implement {method} comp={comp} on a file."
    )


# -- Lease File (https://learn.microsoft.com/rest/api/storageservices/lease-file) ---------------
# A file lease is infinite (x-ms-lease-duration: -1, the only value for a file); while a file is
# leased, writes and deletes must carry its lease ID, reads need none. Error codes and statuses:
# https://learn.microsoft.com/rest/api/storageservices/file-service-error-codes.
LEASED, AVAILABLE, BROKEN = "leased", "available", "broken"


def _lease_of(props: dict) -> dict:
    return props.get("lease") or {"state": AVAILABLE}


def _lease_headers(props: dict) -> dict[str, str]:
    """Get File / Get File Properties: x-ms-lease-state, -status and, while leased, -duration."""
    lease = _lease_of(props)
    h = {"x-ms-lease-state": lease["state"], "x-ms-lease-status": "locked" if lease["state"] == LEASED else "unlocked"}
    if lease["state"] == LEASED:
        h["x-ms-lease-duration"] = "infinite"
    return h


def _lease_refusal(request, props: dict) -> Response | None:
    """A write or delete to a leased file needs its lease ID (412); an ID given for a file that
    has no active lease is refused as well (Lease File, "Remarks")."""
    lease = _lease_of(props)
    given = request.headers.get("x-ms-lease-id")
    if lease["state"] == LEASED:
        if not given:
            return _error(
                request,
                412,
                "LeaseIdMissing",
                "There is currently a lease on the file and no lease ID was specified in the request.",
            )
        if given.lower() != lease["id"].lower():
            return _error(
                request,
                412,
                "LeaseIdMismatchWithFileOperation",
                "The lease ID specified did not match the lease ID for the file.",
            )
    elif given:
        return _error(request, 412, "LeaseNotPresentWithFileOperation", "There is currently no lease on the file.")
    return None


def _lease_file(request, share: Share, rel, p: Path):  # pylint: disable=too-many-return-statements
    """Lease File: acquire (201, the new x-ms-lease-id; only the holder may acquire again, else 409
    LeaseAlreadyPresent), change (200), release (200) and break (202, by anyone, with or without
    the ID; a broken infinite lease ends at once, so any client may acquire it next)."""
    action = (request.headers.get("x-ms-lease-action") or "").lower()
    given = request.headers.get("x-ms-lease-id")
    proposed = request.headers.get("x-ms-proposed-lease-id")
    if action not in ("acquire", "change", "release", "break"):
        return _error(
            request,
            400,
            "InvalidHeaderValue" if action else "MissingRequiredHeader",
            "The value for one of the HTTP headers is not in the correct format: x-ms-lease-action.",
        )
    for value in (given, proposed):
        if value is not None:
            try:
                uuid.UUID(value)
            except ValueError:
                return _error(
                    request,
                    400,
                    "InvalidHeaderValue",
                    "The value for one of the HTTP headers is not in the correct format: lease ID.",
                )
    with _lock_for(p):
        props = share.props(rel)
        lease = _lease_of(props)
        held = lease["state"] == LEASED
        if action == "acquire":
            if (request.headers.get("x-ms-lease-duration") or "-1").strip() != "-1":
                return _error(
                    request,
                    400,
                    "InvalidHeaderValue",
                    "The value for one of the HTTP headers is not in the correct format: x-ms-lease-duration "
                    "(a file lease is infinite: -1).",
                )
            if held and (proposed or "").lower() != lease["id"].lower():
                return _error(request, 409, "LeaseAlreadyPresent", "There is already a lease present.")
            lease = {"state": LEASED, "id": proposed or str(uuid.uuid4())}
            status = 201
        elif action == "break":
            if not held:
                return _error(
                    request, 409, "LeaseNotPresentWithLeaseOperation", "There is currently no lease on the file."
                )
            lease = {"state": BROKEN}
            status = 202
        else:  # change and release need the current ID
            if not given or (action == "change" and not proposed):
                return _error(
                    request,
                    400,
                    "MissingRequiredHeader",
                    "An HTTP header that's mandatory for this request is not specified: x-ms-lease-id.",
                )
            if not held:
                return _error(
                    request, 409, "LeaseNotPresentWithLeaseOperation", "There is currently no lease on the file."
                )
            if given.lower() != lease["id"].lower():
                return _error(
                    request,
                    409,
                    "LeaseIdMismatchWithLeaseOperation",
                    "The lease ID specified did not match the lease ID for the file.",
                )
            lease = {"state": LEASED, "id": proposed} if action == "change" else {"state": AVAILABLE}
            status = 200
        props["lease"] = lease
        share.save_props(rel, props)
    h = _stamp(p.stat())
    if lease.get("id"):
        h["x-ms-lease-id"] = lease["id"]
    if action == "break":
        h["x-ms-lease-time"] = "0"
    return _resp(request, status, h)


def _set_file_properties(request, share: Share, rel, p: Path):
    with _lock_for(p):
        props = share.props(rel)
        newlen = request.headers.get("x-ms-content-length")
        if newlen is not None and newlen != "":
            try:
                n = int(newlen)
                if n < 0:
                    raise ValueError
            except ValueError:
                return _error(
                    request,
                    400,
                    "InvalidHeaderValue",
                    "The value for one of the HTTP headers is not in the correct format.",
                )
            os.truncate(p, n)
        # Set File Properties replaces all content headers (omitted ones are cleared).
        for hdr, _, key in CONTENT_HEADERS:
            v = request.headers.get(hdr)
            if v:
                props[key] = v
            else:
                props.pop(key, None)
        share.save_props(rel, props)
        _touch(p)
    st = p.stat()
    return _resp(
        request,
        200,
        _entry_headers(share, rel, st, {"creation_ns": props.get("creation_ns", st.st_mtime_ns)}, False) | ENCRYPTED,
    )


def _file_headers(share, rel, st, props) -> dict[str, str]:
    h = _entry_headers(share, rel, st, props, False)
    h.update(
        {
            "x-ms-type": "File",
            "Accept-Ranges": "bytes",
            "Content-Type": props.get("content_type") or "application/octet-stream",
            **_lease_headers(props),
        }
    )
    for _, resp_hdr, key in CONTENT_HEADERS[1:]:
        if props.get(key):
            h[resp_hdr] = props[key]
    return h


def _create_file(request, share: Share, rel, p: Path):
    if _parent_missing(share, rel):
        return _parent_not_found(request)
    if p.is_dir():
        return _type_mismatch(request)
    try:
        size = int(request.headers.get("x-ms-content-length") or "")
        if size < 0 or size > 4 * 1024**4:
            raise ValueError
    except ValueError:
        return _error(
            request,
            400,
            "MissingRequiredHeader" if not request.headers.get("x-ms-content-length") else "InvalidHeaderValue",
            "An HTTP header that's mandatory for this request is not specified: x-ms-content-length.",
        )
    if (request.headers.get("x-ms-type") or "").lower() != "file":
        return _error(
            request,
            400,
            "InvalidHeaderValue",
            "The value for one of the HTTP headers is not in the correct format: x-ms-type.",
        )
    with _lock_for(p):
        with open(p, "wb") as f:  # a create replaces the file and its metadata
            f.truncate(size)
        lease = share.props(rel).get("lease")  # a lease belongs to the file, not to its content
        props = {"metadata": _metadata_from(request), "creation_ns": time.time_ns()}
        if lease:
            props["lease"] = lease
        for hdr, _, key in CONTENT_HEADERS:
            if request.headers.get(hdr):
                props[key] = request.headers[hdr]
        share.save_props(rel, props)
        _touch(p)
    st = p.stat()
    return _resp(
        request,
        201,
        _entry_headers(share, rel, st, {"creation_ns": props["creation_ns"]}, False) | ENCRYPTED,
    )


# One early return per documented error response, in the order the service checks them.
def _put_range(request, p: Path):  # pylint: disable=too-many-return-statements
    rng = _parse_range(request.headers.get("x-ms-range") or request.headers.get("Range") or "")
    if rng is None or rng[1] is None or rng[1] < rng[0]:
        return _error(
            request,
            400,
            "InvalidHeaderValue" if rng else "MissingRequiredHeader",
            "The range specified is invalid for the current size of the resource.",
        )
    start, end = rng
    if end - start + 1 > MAX_RANGE:
        return _error(
            request,
            413,
            "RequestBodyTooLarge",
            "The request body is too large and exceeds the maximum permissible limit (4 MiB per range).",
        )
    write = (request.headers.get("x-ms-write") or "").lower()
    if write not in ("update", "clear"):
        return _error(
            request,
            400,
            "InvalidHeaderValue",
            "The value for one of the HTTP headers is not in the correct format: x-ms-write.",
        )
    body = request.body or b""
    length = end - start + 1
    if write == "update" and len(body) != length:
        return _error(
            request,
            400,
            "InvalidHeaderValue" if body else "MissingRequiredHeader",
            "The range specified does not match the size of the request body.",
        )
    if write == "clear" and body:
        return _error(request, 400, "InvalidHeaderValue", "Content-Length must be 0 for x-ms-write: clear.")
    md5 = request.headers.get("Content-MD5")
    body_md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    if md5 and write == "update" and md5 != body_md5:
        return _error(
            request,
            400,
            "Md5Mismatch",
            "The MD5 value specified in the request did not match with the MD5 value calculated by the server.",
        )
    with _lock_for(p):
        size = p.stat().st_size
        if end >= size:
            return _invalid_range(request)
        with open(p, "r+b") as f:
            f.seek(start)
            if write == "update":
                f.write(body)
            else:
                left = length
                zeros = b"\0" * min(left, 1 << 20)
                while left:
                    n = min(left, len(zeros))
                    f.write(zeros[:n])
                    left -= n
        _touch(p)
        st = p.stat()
    h = _stamp(st) | ENCRYPTED | {"x-ms-file-last-write-time": _iso7(st.st_mtime_ns)}
    if write == "update":
        h["Content-MD5"] = body_md5
    return _resp(request, 201, h)


INLINE_BODY_MAX = 64 * 1024 * 1024  # bodies up to this size go out as bytes (Content-Length kept)


def _body(p: Path, start: int, length: int):
    if length <= INLINE_BODY_MAX:
        with open(p, "rb") as f:
            f.seek(start)
            return f.read(length)
    return _iter_file(p, start, length)


def _iter_file(p: Path, start: int, length: int, chunk: int = 1 << 20):
    with open(p, "rb") as f:
        f.seek(start)
        left = length
        while left > 0:
            data = f.read(min(chunk, left))
            if not data:
                break
            left -= len(data)
            yield data


def _get_file(request, share: Share, rel, p: Path):
    props = share.props(rel)
    st = p.stat()
    size = st.st_size
    h = _file_headers(share, rel, st, props)
    rh = request.headers.get("x-ms-range") or request.headers.get("Range")
    if rh:
        rng = _parse_range(rh)
        if rng is None:
            return _error(
                request,
                400,
                "InvalidHeaderValue",
                "The value for one of the HTTP headers is not in the correct format: Range.",
            )
        start, end = rng
        if start >= size:
            return _invalid_range(request)
        end = size - 1 if end is None else min(end, size - 1)
        if end < start:
            return _invalid_range(request)
        length = end - start + 1
        md5 = h.pop("Content-MD5", None)
        if md5:
            h["x-ms-content-md5"] = md5  # whole-file MD5 on a ranged read
        if (request.headers.get("x-ms-range-get-content-md5") or "").lower() == "true":
            if length > 4 * 1024 * 1024:
                return _error(
                    request, 400, "OutOfRangeInput", "x-ms-range-get-content-md5 needs a range of at most 4 MiB."
                )
            with open(p, "rb") as f:
                f.seek(start)
                h["Content-MD5"] = base64.b64encode(hashlib.md5(f.read(length)).digest()).decode()
        h["Content-Range"] = f"bytes {start}-{end}/{size}"
        h["Content-Length"] = str(length)
        return Response(206, {**_base_headers(request), **h}, _body(p, start, length))
    h["Content-Length"] = str(size)
    return Response(200, {**_base_headers(request), **h}, _body(p, 0, size))
