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


MAX_NAME_LENGTH = 255  # a folder name on Azure Files (and most file systems)


def name_problem(name: str) -> str | None:
    """Why `name` cannot name an adapter (None when it can): a name prints as itself. Control
    characters are refused wherever a name comes from (serve.json, --adapter, discovery, a
    request): names are listed by GET /v1/models and shown on users' terminals, where an escape
    sequence would act instead of print."""
    if not name:
        return "an adapter name cannot be empty"
    if not name.isprintable():
        return f"adapter name {name!r} holds control or non-printing characters; rename the adapter"
    if len(name) > MAX_NAME_LENGTH:
        return f"adapter name {name[:40]!r}... is longer than {MAX_NAME_LENGTH} characters"
    return None
