"""Container Apps environments: existence, workload profiles, their storages."""

from knack.log import get_logger

from . import api_versions, arm, lro, resource_ids
from .not_found import exists as _exists

logger = get_logger(__name__)

UPDATE_WAIT = 1800  # seconds a workload profile added to an environment may take


def resource_id(subscription_id, resource_group, name):
    return resource_ids.managed_environment(subscription_id, resource_group, name)


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
        every = resource_ids.provider_path(
            subscription_id, resource_ids.APP_NAMESPACE, resource_ids.MANAGED_ENVIRONMENTS
        )
        for e in arm.list_all(cli_ctx, every):
            if (e.get("id") or "").lower() == env_id.lower():
                continue
            for s in arm.list_all(cli_ctx, f"{e['id']}/storages"):
                af = (s.get("properties") or {}).get("azureFile") or {}
                accounts.append(af.get("accountName"))
    except Exception:  # pylint: disable=broad-except
        logger.debug("could not list the other environments' storages", exc_info=True)
    return accounts


REGION_WORKERS = 8  # regions asked at a time when listing where a profile type is offered


def available_profile_types(cli_ctx, subscription_id, location):
    """The workload profile type names (`name` of each AvailableWorkloadProfile) `location`
    offers, or None when Azure rejects the location (an error whose code core/provision/regions.py
    reads as "unknown location"; other errors propagate)."""
    from ..core.provision import regions

    path = resource_ids.provider_path(
        subscription_id,
        resource_ids.APP_NAMESPACE,
        "locations",
        regions.normalize(location),
        "availableManagedEnvironmentsWorkloadProfileTypes",
    )
    try:
        items = arm.list_all(cli_ctx, path, api_versions.WORKLOAD_PROFILE_TYPES)
    except Exception as ex:  # pylint: disable=broad-except
        if regions.is_unknown_location(_error_code(ex)):
            return None
        raise
    return [str(item.get("name") or "") for item in items]


def regions_offering(cli_ctx, subscription_id, workload_profile_type):
    """The regions (names) whose available workload profile types include the type, asked in
    parallel over the locations Microsoft.App lists for managedEnvironments; [] when they
    cannot be listed (the refusal then names none)."""
    from concurrent.futures import ThreadPoolExecutor

    from .._client_factory import cf_resources
    from ..core.provision import regions

    try:
        provider = cf_resources(cli_ctx, subscription_id).providers.get("Microsoft.App")
        locations = next(
            (t.locations for t in provider.resource_types or [] if t.resource_type.lower() == "managedenvironments"),
            [],
        )
    except Exception:  # pylint: disable=broad-except
        logger.debug("could not list the Microsoft.App locations", exc_info=True)
        return []

    def offered(location):
        try:
            types = available_profile_types(cli_ctx, subscription_id, location)
        except Exception:  # pylint: disable=broad-except
            logger.debug("could not read the workload profile types of %s", location, exc_info=True)
            return None
        return regions.normalize(location) if regions.offers(types, workload_profile_type) else None

    with ThreadPoolExecutor(max_workers=REGION_WORKERS) as pool:
        return sorted(r for r in pool.map(offered, locations or []) if r)


def _error_code(ex):
    """The ARM error code of a failed send_raw_request (its body's error.code), else ''."""
    response = getattr(ex, "response", None)
    try:
        return str(((response.json() or {}).get("error") or {}).get("code") or "")
    except Exception:  # pylint: disable=broad-except
        return ""


def names_in_group(cli_ctx, subscription_id, resource_group):
    """The names of the environments in the resource group ([] when they cannot be listed)."""
    try:
        return [
            e.get("name")
            for e in arm.list_all(
                cli_ctx,
                resource_ids.provider_path(
                    subscription_id,
                    resource_ids.APP_NAMESPACE,
                    resource_ids.MANAGED_ENVIRONMENTS,
                    resource_group=resource_group,
                ),
            )
        ]
    except Exception:  # pylint: disable=broad-except
        logger.debug("could not list the environments", exc_info=True)
        return []


def add_workload_profile(cli_ctx, subscription_id, resource_group, name, profile):
    """Add a serverless workload profile to an existing environment, as `az containerapp env
    workload-profile add` does (a PATCH of its workloadProfiles); raises Azure's error."""
    env_id = resource_id(subscription_id, resource_group, name)
    env = arm.get(cli_ctx, env_id)
    profiles = list(((env or {}).get("properties") or {}).get("workloadProfiles") or [])
    profiles.append({"name": profile.workload_profile_name, "workloadProfileType": profile.workload_profile_type})
    # Azure updates an environment asynchronously: follow the operation (azure/lro.py), whose failure
    # (or the environment's UpgradeFailed) raises lro.OperationFailed with Azure's error.
    lro.update(
        cli_ctx,
        env_id,
        {"properties": {"workloadProfiles": profiles}},
        api_versions.CONTAINER_APPS,
        what=f"adding the workload profile {profile.workload_profile_name} to the environment '{name}'",
        timeout=UPDATE_WAIT,
    )
