"""The resource group and the subscription's resource provider registrations."""

from knack.log import get_logger

from ..core.provision import arm_errors
from .not_found import is_not_found

logger = get_logger(__name__)


def find(cli_ctx, subscription_id, resource_group):
    """The resource group (SDK model), or None when it does not exist. Reads only."""
    from .._client_factory import cf_resources

    try:
        return cf_resources(cli_ctx, subscription_id).resource_groups.get(resource_group)
    except Exception as ex:  # pylint: disable=broad-except
        if not is_not_found(ex):
            raise
    return None


def missing_error(resource_group):
    """The one-line refusal for a group that does not exist when no location says where to make it."""
    return arm_errors.failure(
        *arm_errors.classify({"code": "ResourceGroupNotFound", "message": ""}, resource_group=resource_group)
    )


def create(cli_ctx, subscription_id, resource_group, location):
    """Create the resource group in `location` (as `az containerapp up` does); the location was
    checked before (provision's pre-flight)."""
    from .._client_factory import cf_resources

    logger.warning("Creating resource group '%s' in %s (it did not exist)", resource_group, location)
    return cf_resources(cli_ctx, subscription_id).resource_groups.create_or_update(
        resource_group, {"location": location}
    )


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
