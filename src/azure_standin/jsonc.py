"""Lenient JSON as ARM's deserializer (Newtonsoft) reads it: // and /* */ comments, unquoted
property names (az splices `template:{...}` into deployment bodies), trailing commas."""

import json
import re

_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def to_strict(text: str) -> str:
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif c == "/" and text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == ",":
            j = i + 1
            while j < n and text[j] in " \t\r\n":
                j += 1
            if j < n and text[j] in "}]":
                i += 1
                continue
            out.append(c)
            i += 1
        else:
            m = _IDENT.match(text, i) if (c.isalpha() or c in "_$") else None
            if m:
                word = m.group(0)
                j = m.end()
                k = j
                while k < n and text[k] in " \t\r\n":
                    k += 1
                if k < n and text[k] == ":" and word not in ("true", "false", "null"):
                    out.append(json.dumps(word))
                else:
                    out.append(word)
                i = j
            else:
                out.append(c)
                i += 1
    return "".join(out)


def loads(data):
    if isinstance(data, (bytes, bytearray)):
        data = data.decode("utf-8-sig")
    try:
        return json.loads(data)
    except ValueError:
        return json.loads(to_strict(data))
