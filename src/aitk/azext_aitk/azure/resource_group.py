"""The resource group and the subscription's resource provider registrations."""

from knack.log import get_logger

from ..core.provision import arm_errors
from .not_found import is_not_found

logger = get_logger(__name__)


def check_resource_group(cli_ctx, subscription_id, resource_group, location=None):
    """The resource group. A missing one is created in `location` when given (as `az containerapp
    up` does), else one clear error with the command to create it."""
    from .._client_factory import cf_resources

    groups = cf_resources(cli_ctx, subscription_id).resource_groups
    try:
        return groups.get(resource_group)
    except Exception as ex:  # pylint: disable=broad-except
        if not is_not_found(ex):
            raise
    if not location:
        raise arm_errors.failure(
            *arm_errors.classify({"code": "ResourceGroupNotFound", "message": ""}, resource_group=resource_group)
        ) from None
    logger.warning("Creating resource group '%s' in %s (it did not exist)", resource_group, location)
    return groups.create_or_update(resource_group, {"location": location})


def check_providers(cli_ctx, subscription_id, namespaces=("Microsoft.App",)):
    """Fail early, with the command to fix it, when a resource provider is not registered.
    Anything short of a definite "NotRegistered" is left to the deployment."""
    from .._client_factory import cf_resources

    for ns in namespaces:
        try:
            state = cf_resources(cli_ctx, subscription_id).providers.get(ns).registration_state
        except Exception:  # pylint: disable=broad-except
            logger.debug("could not read the registration of %s", ns, exc_info=True)
            continue
        if str(state).lower() in ("notregistered", "unregistered"):
            raise arm_errors.failure(
                *arm_errors.classify(
                    {
                        "code": "MissingSubscriptionRegistration",
                        "message": f"The subscription is not registered to use namespace '{ns}'.",
                    }
                )
            )
