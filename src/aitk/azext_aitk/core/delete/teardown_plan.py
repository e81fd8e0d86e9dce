"""`az aitk inference delete`: what provision made for inference and may go, and what stays.

Provision reuses what exists (the fine-tuning storage and share, an environment named by the
parameters) and makes the rest; the template tags every resource it makes with
core/workspace.PROVISIONED_TAG (ARM never re-PUTs a reused one, so a reused resource never gets the
tag). One rule, whatever the names: a resource is deleted only when it carries the tag, is not a
fine-tuning resource (infra/finetuning.config.json) and nothing else uses it. Plain Python:
decisions only; the operation reads the tags (workspace.has_provisioned_tag) and hands the
tagged ids in.
"""

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

Item = dict[str, str]  # {"id", "type", "name", "action": "delete"|"keep", "reason"}


def _name(resource_id: str | None) -> str:
    return (resource_id or "").rstrip("/").rsplit("/", 1)[-1]


def plan(
    app_id: str,
    env_id: str | None,
    other_app_env_ids: Iterable[str | None],
    storage_account: str | None,
    finetuning: Mapping[str, Any] | None,
    *,
    other_env_storage_accounts: Iterable[str | None] = (),
    logs_workspace_id: str | None = None,
    finetuning_env_id: str | None = None,
    image_pull: Iterable[Mapping[str, Any]] = (),
    provisioned: Collection[str] = (),
) -> list[Item]:
    """[{"id", "type", "name", "action": "delete"|"keep", "reason"}] in deletion order.

    app_id: the inference container app; env_id: its environment; other_app_env_ids: the
    environments of every other container app in the subscription; storage_account: the
    config's (id or name, None if unknown); finetuning: the fine-tuning config dict or {};
    other_env_storage_accounts: storage account names mounted by other environments;
    logs_workspace_id: the environment's Log Analytics workspace (None if unknown);
    finetuning_env_id: the environment fine-tuning's job runs in (None if unknown);
    image_pull: the registry and identity the app pulls its image with (provision
    --image-registry) and the identity's AcrPull role on a registry that stays, in deletion
    order, {"id", "type", "provisioned": provision made it};
    provisioned: the ids (any case) of the resources that carry provision's tag."""
    tagged = {i.lower() for i in provisioned}

    def made_by_provision(resource_id: str | None) -> bool:
        return bool(resource_id) and resource_id.lower() in tagged  # type: ignore[union-attr]

    ft_storage = (finetuning or {}).get("STORAGE_ACCOUNT_NAME")
    items = [
        {
            "id": app_id,
            "type": "Microsoft.App/containerApps",
            "name": _name(app_id),
            "action": "delete",
            "reason": "the inference container app",
        }
    ]
    env_name = _name(env_id)
    env_users = [e for e in other_app_env_ids if (e or "").lower() == (env_id or "").lower()]
    env_goes = False
    if env_id:
        if finetuning_env_id and finetuning_env_id.lower() == env_id.lower():
            reason = "fine-tuning's environment, reused by inference"
        elif env_users:
            reason = f"used by {len(env_users)} other container app(s)"
        elif not made_by_provision(env_id):
            reason = "not made by provision (reused; no aitkProvisioned tag)"
        else:
            reason, env_goes = "made by provision, used by nothing else", True
        items.append(
            {
                "id": env_id,
                "type": "Microsoft.App/managedEnvironments",
                "name": env_name,
                "action": "delete" if env_goes else "keep",
                "reason": reason,
            }
        )
    if logs_workspace_id:
        logs_name = _name(logs_workspace_id)
        goes = env_goes and made_by_provision(logs_workspace_id)
        items.append(
            {
                "id": logs_workspace_id,
                "type": "Microsoft.OperationalInsights/workspaces",
                "name": logs_name,
                "action": "delete" if goes else "keep",
                "reason": "the deleted environment's logs, made by provision"
                if goes
                else "not made by provision, or its environment stays",
            }
        )
    if storage_account:
        sa = _name(storage_account)
        if ft_storage and sa.lower() == ft_storage.lower():
            goes, reason = False, "the fine-tuning storage, named by infra/finetuning.config.json"
        elif any(sa.lower() == (o or "").lower() for o in other_env_storage_accounts):
            goes, reason = False, "mounted by another environment"
        elif not made_by_provision(storage_account):
            goes, reason = False, "not made by provision (reused; no aitkProvisioned tag)"
        elif not env_goes and env_id and env_users:
            goes, reason = False, "its environment stays in use"
        else:
            goes, reason = True, "made by provision for inference (its share goes with it)"
        items.append(
            {
                "id": storage_account,
                "type": "Microsoft.Storage/storageAccounts",
                "name": sa,
                "action": "delete" if goes else "keep",
                "reason": reason,
            }
        )
    kinds = {"registries": "registry", "userassignedidentities": "identity", "roleassignments": "AcrPull role"}
    for resource in image_pull:
        ours = bool(resource.get("provisioned"))
        what = kinds.get(str(resource["type"]).rsplit("/", 1)[-1].lower(), "resource")
        items.append(
            {
                "id": str(resource["id"]),
                "type": str(resource["type"]),
                "name": _name(str(resource["id"])),
                "action": "delete" if ours else "keep",
                "reason": f"the image pull's {what}, made by provision"
                if ours
                else f"the image pull's {what}, not made by provision (yours)",
            }
        )
    return items


def describe(items: list[Item]) -> list[str]:
    """Lines for the confirmation prompt."""
    lines = ["This deletes:"]
    lines += [f"  - {i['type']} {i['name']} ({i['reason']})" for i in items if i["action"] == "delete"]
    kept = [i for i in items if i["action"] == "keep"]
    if kept:
        lines.append("and keeps:")
        lines += [f"  - {i['type']} {i['name']} ({i['reason']})" for i in kept]
    return lines


# The order a partial provision's resources go in: the app before its environment, the
# environment before the Log Analytics workspace and storage it uses.
PARTIAL_ORDER = (
    "Microsoft.App/containerApps",
    "Microsoft.App/managedEnvironments",
    "Microsoft.OperationalInsights/workspaces",
    "Microsoft.Storage/storageAccounts",
    # provision --image-registry: the registry it created (its role assignments go with it) and
    # the app's pull identity
    "Microsoft.ContainerRegistry/registries",
    "Microsoft.ManagedIdentity/userAssignedIdentities",
)


def plan_partial(resources: Iterable[Mapping[str, Any]], is_ours: Callable[[Mapping[str, Any]], bool]) -> list[Item]:
    """What `delete` removes after a provision that did not finish: the resources of the group
    that carry provision's tag (is_ours), in PARTIAL_ORDER; everything else is left alone."""
    rank = {t.lower(): i for i, t in enumerate(PARTIAL_ORDER)}
    ours = [r for r in resources if is_ours(r) and str(r.get("type", "")).lower() in rank]
    ours.sort(key=lambda r: rank[str(r["type"]).lower()])
    return [
        {
            "id": str(r["id"]),
            "type": next(t for t in PARTIAL_ORDER if t.lower() == str(r["type"]).lower()),
            "name": _name(str(r["id"])),
            "action": "delete",
            "reason": "tagged by a provision that did not finish",
        }
        for r in ours
    ]
