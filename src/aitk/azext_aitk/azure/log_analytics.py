"""Log Analytics workspaces (where an environment sends the apps' logs)."""

from knack.log import get_logger

from . import api_versions, arm, resource_ids
from .not_found import exists as _exists

logger = get_logger(__name__)


def exists(cli_ctx, subscription_id, resource_group, name):
    from .._client_factory import cf_log_analytics

    return _exists(cf_log_analytics(cli_ctx, subscription_id).workspaces.get, resource_group, name)


def find_by_customer_id(cli_ctx, resource_group_id, customer_id):
    """The id of the workspace in the resource group whose customerId (what an environment's
    appLogsConfiguration names) is `customer_id`, else None."""
    if not customer_id:
        return None
    group = resource_ids.parse(resource_group_id)
    path = resource_ids.provider_path(
        group.get("subscription", ""),
        resource_ids.LOG_ANALYTICS_NAMESPACE,
        resource_ids.LOG_ANALYTICS_WORKSPACES,
        resource_group=group.get("resource_group"),
    )
    try:
        for w in arm.list_all(cli_ctx, path, api_versions.LOG_ANALYTICS):
            if ((w.get("properties") or {}).get("customerId") or "").lower() == customer_id.lower():
                return w["id"]
    except Exception:  # pylint: disable=broad-except
        logger.debug("could not list Log Analytics workspaces", exc_info=True)
    return None
