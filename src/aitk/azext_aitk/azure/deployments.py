"""Resource group deployments, through az's own deployment code (`az deployment group create`
and `what-if`: its Bicep build, parameter handling and polling)."""

from knack.log import get_logger

from . import resource_ids

logger = get_logger(__name__)

DEPLOYMENT_NAME = "aitk-inference"


def what_if(cmd, resource_group, template_file, parameters):
    """Print what the deployment would change; deploy nothing."""
    from azure.cli.command_modules.resource.custom import what_if_deploy_arm_template_at_resource_group

    what_if_deploy_arm_template_at_resource_group(
        cmd,
        resource_group_name=resource_group,
        template_file=template_file,
        parameters=parameters,
        deployment_name=DEPLOYMENT_NAME,
        no_prompt=True,
    )


def start(cmd, resource_group, template_file, parameters, no_wait):
    """Start the deployment: a poller (or None with no_wait)."""
    from azure.cli.command_modules.resource.custom import deploy_arm_template_at_resource_group

    return deploy_arm_template_at_resource_group(
        cmd,
        resource_group_name=resource_group,
        template_file=template_file,
        parameters=parameters,
        deployment_name=DEPLOYMENT_NAME,
        no_wait=no_wait,
        no_prompt=True,
    )


def watch(cmd, poller, resource_group, report, interval=3.0):
    """The finished deployment; meanwhile report(line) for each resource as it completes, with
    the time since the start (core/provision/deployment_progress.py)."""
    import time

    from ..core.provision import deployment_progress

    started, seen = time.monotonic(), set()

    def show_new():
        try:
            ops = operations(cmd.cli_ctx, resource_group)
        except Exception:  # pylint: disable=broad-except
            logger.debug("could not list the deployment operations", exc_info=True)
            return
        for what, state in deployment_progress.completed(ops, seen):
            report(deployment_progress.line(what, state, time.monotonic() - started))

    while not poller.done():
        poller.wait(interval)
        show_new()
    show_new()
    return poller.result()


def deployment_id(subscription, resource_group):
    return resource_ids.deployment(subscription, resource_group, DEPLOYMENT_NAME)


def outputs(deployment):
    """{name: value} of a finished deployment's outputs."""
    props = getattr(deployment, "properties", None)
    values = getattr(props, "outputs", None) or {}
    return {k: v.get("value") if isinstance(v, dict) else v for k, v in values.items()}


def operations(cli_ctx, resource_group):
    """The operations of the deployment (SDK models)."""
    from .._client_factory import cf_deployments

    return list(cf_deployments(cli_ctx).deployment_operations.list(resource_group, DEPLOYMENT_NAME))
