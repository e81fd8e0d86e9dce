"""Azure resource ids, built and parsed in one place, with azure-mgmt-core's `resource_id` and
`parse_resource_id` (what azure-cli and its extensions use). ARM treats ids case-insensitively
(https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules: names
are case-insensitive unless a provider says otherwise), so parsing accepts any case of the
segment keywords and `same` compares whole ids without case.
"""

APP_NAMESPACE = "Microsoft.App"
CONTAINER_APPS = "containerApps"
MANAGED_ENVIRONMENTS = "managedEnvironments"
JOBS = "jobs"
STORAGE_NAMESPACE = "Microsoft.Storage"
STORAGE_ACCOUNTS = "storageAccounts"
LOG_ANALYTICS_NAMESPACE = "Microsoft.OperationalInsights"
LOG_ANALYTICS_WORKSPACES = "workspaces"
RESOURCES_NAMESPACE = "Microsoft.Resources"
DEPLOYMENTS = "deployments"


def group_id(subscription: str, resource_group: str) -> str:
    from azure.mgmt.core.tools import resource_id

    return resource_id(subscription=subscription, resource_group=resource_group)


def subscription_id(subscription: str) -> str:
    from azure.mgmt.core.tools import resource_id

    return resource_id(subscription=subscription)


def provider_path(subscription: str, namespace: str, *segments: str, resource_group: str | None = None) -> str:
    """An ARM path under a provider that is not one resource's id: a list of a resource type
    (`.../providers/Microsoft.App/containerApps`) or a provider's location-scoped collection."""
    from azure.mgmt.core.tools import resource_id

    return "/".join(
        [resource_id(subscription=subscription, resource_group=resource_group, namespace=namespace), *segments]
    )


def build(subscription: str, resource_group: str, namespace: str, resource_type: str, name: str) -> str:
    from azure.mgmt.core.tools import resource_id

    return resource_id(
        subscription=subscription, resource_group=resource_group, namespace=namespace, type=resource_type, name=name
    )


def container_app(subscription: str, resource_group: str, name: str) -> str:
    return build(subscription, resource_group, APP_NAMESPACE, CONTAINER_APPS, name)


def managed_environment(subscription: str, resource_group: str, name: str) -> str:
    return build(subscription, resource_group, APP_NAMESPACE, MANAGED_ENVIRONMENTS, name)


def container_app_job(subscription: str, resource_group: str, name: str) -> str:
    return build(subscription, resource_group, APP_NAMESPACE, JOBS, name)


def storage_account(subscription: str, resource_group: str, name: str) -> str:
    return build(subscription, resource_group, STORAGE_NAMESPACE, STORAGE_ACCOUNTS, name)


def deployment(subscription: str, resource_group: str, name: str) -> str:
    return build(subscription, resource_group, RESOURCES_NAMESPACE, DEPLOYMENTS, name)


def parse(rid: str | None) -> dict[str, str]:
    """The parts of an id: subscription, resource_group, namespace, type, name (and child_* for
    child resources); {} for anything that is not a resource id."""
    from azure.mgmt.core.tools import parse_resource_id

    rid = (rid or "").rstrip("/")
    if not rid.lower().startswith("/subscriptions/"):
        return {}
    return {k: v for k, v in parse_resource_id(rid).items() if v}


def group_of(rid: str | None) -> str:
    return parse(rid).get("resource_group", "")


def name_of(rid: str | None) -> str:
    """The last name in the id (a child resource's own name), "" for none."""
    parts = parse(rid)
    children = sorted(k for k in parts if k.startswith("child_name_"))
    return parts.get(children[-1], "") if children else parts.get("name", "")


def same(a: str | None, b: str | None) -> bool:
    """One resource? Ids compare without case and without a trailing slash."""
    return bool(a) and bool(b) and a.rstrip("/").lower() == b.rstrip("/").lower()  # type: ignore[union-attr]


def is_type(rid: str | None, namespace: str, resource_type: str) -> bool:
    parts = parse(rid)
    return (
        parts.get("namespace", "").lower() == namespace.lower()
        and parts.get("type", "").lower() == resource_type.lower()
    )
