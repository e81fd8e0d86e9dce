"""What to run next after each command, as `az containerapp up` tells its users (stderr, so
`--only-show-errors` hides it and the command's output object stays clean for scripts)."""

import shlex

_AFTER = {
    "init": [("Create the Azure resources", "provision -g my-rg")],
    "provision": [("Push the launcher and your model config, then start serving", "deploy")],
    "deploy": [
        ("The URL, the models and a ready-to-paste curl", "endpoint --show-key"),
        ("Chat with it in the terminal", "chat"),
        ("The server's console log", "logs"),
    ],
    # The rotation order (operations/key.py): the unused key first, clients move, then the other.
    "key rotate secondary": [
        ("Move your clients to the new secondary key", "endpoint --show-key --query secondaryApiKey -o tsv"),
        ("Then replace the primary key (the old one stops working)", "key rotate --key primary"),
    ],
    "key rotate primary": [
        ("The new primary key, for clients that move back to it", "endpoint --show-key --query apiKey -o tsv"),
    ],
}


def after(command: str, workspace: str | None = None, group_known: bool = False) -> list[str]:
    """Lines to print after `command` succeeded. `workspace`: the --workspace given (repeated in
    each suggestion, quoted); `group_known`: init in a workspace whose config names the group
    (provision needs no -g then)."""
    extra = f" --workspace {shlex.quote(workspace)}" if workspace else ""
    lines = []
    for what, args in _AFTER.get(command, []):
        if command == "init" and group_known:
            args = "provision"
        lines.append(f"  {what}: az aitk inference {args}{extra}")
    return ["Next:"] + lines if lines else []
