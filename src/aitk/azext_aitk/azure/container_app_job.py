"""Container Apps jobs (fine-tuning's): which environment a job runs in."""

from knack.log import get_logger

from . import api_versions, arm, resource_ids

logger = get_logger(__name__)


def resource_id(subscription_id, resource_group, name):
    return resource_ids.container_app_job(subscription_id, resource_group, name)


def environment_id(cli_ctx, subscription_id, resource_group, name):
    """The job's `properties.environmentId`, or None when the job cannot be read (it is gone, or
    the name is not a job's)."""
    try:
        job = arm.get(cli_ctx, resource_id(subscription_id, resource_group, name), api_versions.CONTAINER_APPS)
    except Exception:  # pylint: disable=broad-except
        logger.debug("could not read the fine-tuning job %s", name, exc_info=True)
        return None
    return ((job or {}).get("properties") or {}).get("environmentId") or None
