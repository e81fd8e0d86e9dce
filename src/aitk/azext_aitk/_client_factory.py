"""SDK clients, made through az's client factory (its credentials, cloud, telemetry, proxies).

Imports happen inside the functions so `az aitk … --help` never loads an SDK. Only the
`azure` tier calls these.
"""


def cf_container_apps(cli_ctx, subscription_id=None):
    from azure.cli.core.commands.client_factory import get_mgmt_service_client
    from azure.mgmt.appcontainers import ContainerAppsAPIClient

    return get_mgmt_service_client(cli_ctx, ContainerAppsAPIClient, subscription_id=subscription_id)


def cf_storage(cli_ctx, subscription_id=None):
    from azure.cli.core.commands.client_factory import get_mgmt_service_client
    from azure.mgmt.storage import StorageManagementClient

    return get_mgmt_service_client(cli_ctx, StorageManagementClient, subscription_id=subscription_id)


def cf_log_analytics(cli_ctx, subscription_id=None):
    from azure.cli.core.commands.client_factory import get_mgmt_service_client
    from azure.mgmt.loganalytics import LogAnalyticsManagementClient

    return get_mgmt_service_client(cli_ctx, LogAnalyticsManagementClient, subscription_id=subscription_id)


def cf_container_registry(cli_ctx, subscription_id=None):
    """The client `az acr` uses (its profile's api-version)."""
    from azure.cli.core.commands.client_factory import get_mgmt_service_client
    from azure.cli.core.profiles import ResourceType

    return get_mgmt_service_client(cli_ctx, ResourceType.MGMT_CONTAINERREGISTRY, subscription_id=subscription_id)


def cf_resources(cli_ctx, subscription_id=None):
    from azure.cli.core.commands.client_factory import get_mgmt_service_client
    from azure.cli.core.profiles import ResourceType

    return get_mgmt_service_client(cli_ctx, ResourceType.MGMT_RESOURCE_RESOURCES, subscription_id=subscription_id)


def cf_deployments(cli_ctx, subscription_id=None):
    from azure.cli.core.commands.client_factory import get_mgmt_service_client
    from azure.cli.core.profiles import ResourceType

    return get_mgmt_service_client(cli_ctx, ResourceType.MGMT_RESOURCE_DEPLOYMENTS, subscription_id=subscription_id)


def cf_share(
    _cli_ctx, file_endpoint, share_name, account_name, account_key, max_range_size=None
):  # az client factories take cli_ctx first
    """Azure Files data plane with Shared Key, with az's user agent and its SSL settings."""
    from azure.cli.core import _debug
    from azure.cli.core.util import get_az_user_agent
    from azure.storage.fileshare import ShareClient

    from .azure.retry import share_retry_policy

    kwargs = dict(_debug.change_ssl_cert_verification_track2())
    kwargs["user_agent"] = get_az_user_agent() + "CliExtension/aitk"
    kwargs["retry_policy"] = share_retry_policy()
    if max_range_size:
        kwargs["max_range_size"] = max_range_size
    return ShareClient(
        account_url=file_endpoint,
        share_name=share_name,
        credential={"account_name": account_name, "account_key": account_key},
        **kwargs,
    )
