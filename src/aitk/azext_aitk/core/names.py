"""Names the user gives (or a config file holds), checked before any call to Azure.

Rules from Microsoft Learn, "Naming rules and restrictions for Azure resources"
(https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftresources):
a resource group name is 1-90 characters of alphanumerics, underscores, parentheses, hyphens,
periods and Unicode letters or digits, and does not end in a period.
"""

import json
import re
import shlex

from .errors import InvalidNameError

RESOURCE_GROUP_MAX = 90
# `\w` on str is Unicode-aware: letters, digits (any script) and underscore.
_RESOURCE_GROUP = re.compile(r"[\w().-]+")


def resource_group_problem(name: str) -> str | None:
    """Why `name` cannot be a resource group name, or None when it can."""
    if not name:
        return "it is empty"
    if len(name) > RESOURCE_GROUP_MAX:
        return f"it has {len(name)} characters (at most {RESOURCE_GROUP_MAX})"
    bad = sorted({c for c in name if not _RESOURCE_GROUP.fullmatch(c)})
    if bad:
        return "it contains " + ", ".join(repr(c) for c in bad) + " (allowed: letters, digits, _ ( ) - .)"
    if name.endswith("."):
        return "it ends in a period"
    return None


def check_resource_group(name: str, source: str = "-g") -> str:
    """`name` when it is a valid resource group name, else InvalidNameError naming `source`."""
    problem = resource_group_problem(name)
    if problem:
        raise InvalidNameError(
            f"{shlex.quote(name)} (from {source}) is not a valid resource group name: {problem}",
            "Use 1-90 letters, digits, underscores, parentheses, hyphens and periods, not ending "
            "in a period, e.g. -g my-rg.",
        )
    return name


def command(*words: str) -> str:
    """A command line a user can paste: every word quoted for a POSIX shell."""
    return " ".join(shlex.quote(w) for w in words)


# The shell variable the ready-to-paste curl reads the key from: a key on curl's command line is in
# the shell's history and in `ps` for every user of the machine; from a variable through printf (a
# shell builtin) into `-H @-` (curl >= 7.55 reads headers from stdin) it is in neither.
KEY_VARIABLE = "AITK_API_KEY"
KEY_EXPORT = f"export {KEY_VARIABLE}=$(az aitk inference endpoint --show-key --query apiKey -o tsv)"


def curl_chat(url: str, model: str) -> str:
    """A ready-to-paste curl that asks the endpoint one chat question (fails on an HTTP error), with
    the key from $AITK_API_KEY (KEY_VARIABLE); unset, the shell says how to set it and runs nothing."""
    body = json.dumps({"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "Hello!"}]})
    set_first = KEY_EXPORT.replace("$", "\\$")
    return (
        f': "${{{KEY_VARIABLE}:?is not set; first run: {set_first}}}" && '
        f"printf 'Authorization: Bearer %s\\n' \"${KEY_VARIABLE}\" | "
        + command(
            "curl",
            "-fsS",
            url.rstrip("/") + "/v1/chat/completions",
            "-H",
            "@-",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        )
    )
