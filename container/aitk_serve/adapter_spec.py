"""`--adapter NAME=PATH`, as the launcher and `az aitk inference deploy` both take it.

Stdlib only: the launcher and the az extension split a spec with the same rule.
"""


def split(spec: str) -> tuple[str, str] | None:
    """ "NAME=PATH" -> (name, path), both stripped; None when the name or the path is missing.
    The first "=" splits (a path may hold "=")."""
    name, sep, path = str(spec).partition("=")
    name, path = name.strip(), path.strip()
    if not sep or not name or not path:
        return None
    return name, path
