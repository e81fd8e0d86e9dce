"""Azure Files naming rules for the paths deploy writes, checked before anything is written.

https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-shares--directories--files--and-metadata
("Directory and file names"): names are case-preserving and case-insensitive; at most 255
characters per component and 2,048 per path; the characters " \\ / : | < > * ? and control
characters (U+0000-U+001F) are rejected; a name may not end with a dot or a space; the reserved
device names CON, PRN, AUX, NUL, COM0-COM9, LPT0-LPT9 are rejected, with or without an extension.
"""

import re
from collections.abc import Iterable

from ..errors import SyncError

MAX_COMPONENT = 255
MAX_PATH = 2048
BAD_CHARS = frozenset('"\\/:|<>*?')
_RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\..*)?$", re.IGNORECASE)


def _name_problem(name: str) -> str | None:
    if not name or name in (".", ".."):
        return f"it has an empty, '.' or '..' component ({name!r})"
    bad = sorted({c for c in name if c in BAD_CHARS or ord(c) < 0x20})
    if bad:
        return f"{name!r} contains {' '.join(repr(c) for c in bad)}, which Azure Files does not allow in names"
    if name[-1] in ". ":
        return f"{name!r} ends with a {'dot' if name[-1] == '.' else 'space'}, which Azure Files does not allow"
    if _RESERVED.match(name):
        return f"{name!r} is a reserved device name on Azure Files (CON, PRN, AUX, NUL, COM0-9, LPT0-9)"
    if len(name) > MAX_COMPONENT:
        return f"a name is {len(name)} characters long (Azure Files allows {MAX_COMPONENT})"
    return None


def problem(path: str) -> str | None:
    """Why Azure Files rejects the share path (POSIX, share-relative), or None when it is fine."""
    if len(path) > MAX_PATH:
        return f"the share path is {len(path)} characters long (Azure Files allows {MAX_PATH})"
    for name in path.split("/"):
        why = _name_problem(name)
        if why:
            return why
    return None


def check(paths: Iterable[tuple[str, str]]) -> None:
    """paths: (share path, what it comes from, e.g. the local file). Raises SyncError naming the
    first path Azure Files would reject."""
    for share_path, source in paths:
        why = problem(share_path)
        if why:
            raise SyncError(
                f"{source} cannot be uploaded to the share as {share_path}: {why}",
                "Rename or remove it (nothing was uploaded), then deploy again.",
            )
