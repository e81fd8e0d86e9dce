"""Container Apps environments: existence, workload profiles, their storages."""

from knack.log import get_logger

from . import api_versions, arm
from .not_found import exists as _exists

logger = get_logger(__name__)


def resource_id(subscription_id, resource_group, name):
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/"
        f"Microsoft.App/managedEnvironments/{name}"
    )


def exists(cli_ctx, subscription_id, resource_group, name):
    from .._client_factory import cf_container_apps

    client = cf_container_apps(cli_ctx, subscription_id)
    return _exists(client.managed_environments.get, resource_group, name)


def workload_profiles(cli_ctx, subscription_id, resource_group, name):
    """[(name, workloadProfileType)] of an existing environment, or None when unknown (read
    through the generic resource API: the SDK's models predate workload profiles)."""
    from .._client_factory import cf_resources

    env_id = resource_id(subscription_id, resource_group, name)
    try:
        props = (
            cf_resources(cli_ctx, subscription_id).resources.get_by_id(env_id, api_versions.CONTAINER_APPS).properties
            or {}
        )
    except Exception:  # pylint: disable=broad-except
        logger.debug("could not read the environment's workload profiles", exc_info=True)
        return None
    return [(wp.get("name"), wp.get("workloadProfileType")) for wp in props.get("workloadProfiles") or []]


def get_json(cli_ctx, env_id):
    """The environment's ARM JSON, or None when it cannot be read (it is only shown)."""
    try:
        return arm.get(cli_ctx, env_id)
    except Exception:  # pylint: disable=broad-except
        logger.debug("could not read the environment", exc_info=True)
        return None


def storage_accounts_of_others(cli_ctx, subscription_id, env_id):
    """Storage account names mounted by every other environment of the subscription ([] when
    they cannot be listed)."""
    accounts = []
    try:
        for e in arm.list_all(cli_ctx, f"/subscriptions/{subscription_id}/providers/Microsoft.App/managedEnvironments"):
            if (e.get("id") or "").lower() == env_id.lower():
                continue
            for s in arm.list_all(cli_ctx, f"{e['id']}/storages"):
                af = (s.get("properties") or {}).get("azureFile") or {}
                accounts.append(af.get("accountName"))
    except Exception:  # pylint: disable=broad-except
        logger.debug("could not list the other environments' storages", exc_info=True)
    return accounts
