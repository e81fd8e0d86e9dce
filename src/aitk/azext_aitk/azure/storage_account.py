"""Storage accounts and their file shares (management plane, azure-mgmt-storage)."""

from ..core.errors import AzureStateError, NotFoundError
from . import secret_logging
from .not_found import exists as _exists
from .not_found import is_not_found
from .retry import retry_lost


def exists(cli_ctx, subscription_id, resource_group, name):
    from .._client_factory import cf_storage

    return _exists(cf_storage(cli_ctx, subscription_id).storage_accounts.get_properties, resource_group, name)


def share_exists(cli_ctx, subscription_id, resource_group, account, share):
    from .._client_factory import cf_storage

    return _exists(cf_storage(cli_ctx, subscription_id).file_shares.get, resource_group, account, share)


def resource_group_of(cli_ctx, subscription_id, name):
    """The resource group of the subscription that holds the storage account `name`, or None
    (Resources - List with a $filter on type and name:
    https://learn.microsoft.com/rest/api/resources/resources/list)."""
    from . import api_versions, arm, resource_ids

    path = (
        f"{resource_ids.subscription_id(subscription_id)}/resources?$filter=resourceType eq "
        f"'Microsoft.Storage/storageAccounts' and name eq '{name}'"
    )
    for found in arm.list_all(cli_ctx, path, api_versions.RESOURCES):
        group = resource_ids.group_of(found.get("id"))
        if group and (found.get("name") or "").lower() == name.lower():
            return group
    return None


def file_access(cli_ctx, subscription_id, resource_group, account):
    """(file endpoint, account key) of the account. The key is never printed."""
    from .._client_factory import cf_storage

    storage = cf_storage(cli_ctx, subscription_id)
    try:
        props = storage.storage_accounts.get_properties(resource_group, account)
    except Exception as ex:  # pylint: disable=broad-except
        if is_not_found(ex):
            raise NotFoundError(
                f"storage account '{account}' was not found in resource group '{resource_group}'",
                "Run `az aitk inference provision` again.",
            ) from None
        raise
    endpoint = file_endpoint(props)
    if not endpoint:
        raise AzureStateError(f"storage account '{account}' has no file endpoint")
    key = first_key(
        retry_lost(storage.storage_accounts.list_keys, resource_group, account, **secret_logging.NO_LOGGING)
    )
    if not key:
        raise AzureStateError(
            f"storage account '{account}' gave no account key", "Shared Key access must be allowed on the account."
        )
    return endpoint, key


def file_endpoint(account):
    """primaryEndpoints.file of a storage account (SDK model of either generation, or dict)."""
    inner = getattr(account, "properties", None)
    for holder in (inner, account):
        if holder is None:
            continue
        endpoints = getattr(holder, "primary_endpoints", None)
        if endpoints is None and isinstance(holder, dict):
            endpoints = holder.get("primaryEndpoints")
        if isinstance(endpoints, dict):
            value = endpoints.get("file")
        else:
            value = getattr(endpoints, "file", None)
        if value:
            return value
    return None


def first_key(result):
    """The first account key of a listKeys result. azure-mgmt-storage 25's models are mappings,
    where `.keys` is the mapping method and the list is `keys_property` (or result["keys"])."""
    keys = getattr(result, "keys_property", None)
    if keys is None:
        keys = result["keys"] if hasattr(result, "__getitem__") else getattr(result, "keys", None)
    for k in keys or []:
        value = k.get("value") if isinstance(k, dict) else getattr(k, "value", None)
        if value:
            return value
    return None
