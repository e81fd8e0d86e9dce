"""`provision --image-registry NAME`: check the registry before anything is created, then create it
(when new) and import the serving image into it, and hand the template the pull's parameters
(core/provision/image_registry.py decides, azure/container_registry.py calls Azure)."""

from dataclasses import dataclass

from knack.log import get_logger

from ..azure import container_registry
from ..core.init import shipped_templates
from ..core.provision import image_registry

logger = get_logger(__name__)


@dataclass(frozen=True)
class Checked:
    registry: image_registry.RegistryPlan
    image: image_registry.SourceImage


def check(cli_ctx, subscription, group, location, template, plan, name):  # pylint: disable=too-many-positional-arguments  # called from provision.py (issue 22)
    """The registry plan (None without --image-registry): reuse the registry of that name in the
    subscription (in any of its resource groups), else create one in the app's group and region if
    the name is free across Azure; refusals are one line, before anything is created (the name
    itself: _validators.py)."""
    if name is None:
        return None
    missing = image_registry.missing_parameters(template.types)
    if missing:
        raise image_registry.template_too_old(template.file, missing)
    image = image_registry.source_image(plan.values.get("image") or shipped_templates.default_image())
    found = container_registry.find(cli_ctx, subscription, name)
    registry = image_registry.plan(name, found, group, location)
    missing = image_registry.missing_parameters(template.types, registry)
    if missing:
        raise image_registry.template_too_old(template.file, missing)
    if registry.create:
        available, reason, message = container_registry.name_availability(cli_ctx, subscription, name)
        if not available:
            raise image_registry.name_taken(name, reason, message)
    for line in image_registry.plan_lines(registry, image):
        logger.warning("%s", line)
    return Checked(registry, image)


def _predicted_login_server(cli_ctx, name):
    """A new registry's login server before it exists (for --what-if): name + the cloud's suffix."""
    try:
        suffix = cli_ctx.cloud.suffixes.acr_login_server_endpoint
    except Exception:  # pylint: disable=broad-except  # a cloud without the suffix (CloudSuffixNotSetException)
        suffix = None
    return f"{name.lower()}{suffix or '.azurecr.io'}"


def provide(cli_ctx, subscription, checked, plan, what_if):
    """Create the registry when new and import the image (not for --what-if), then put the pull's
    template parameters into the plan. checked: what check() returned. Returns what provision
    reports ({"name", "loginServer", "image", "created", "imported"}), or None."""
    if checked is None:
        return None
    from azure.cli.core.azclierror import AzureResponseError
    from azure.core.exceptions import HttpResponseError

    registry, image = checked.registry, checked.image
    login_server, imported = registry.login_server, False
    try:
        if what_if:
            login_server = login_server or _predicted_login_server(cli_ctx, registry.name)
        else:
            if registry.create:
                logger.warning("Creating the container registry %s…", registry.name)
                login_server = container_registry.create(
                    cli_ctx, subscription, registry.resource_group, registry.name, registry.location
                )
            logger.warning("Importing %s into %s (server-side)…", image, registry.name)
            imported = container_registry.import_image(
                cli_ctx, subscription, registry.resource_group, registry.name, image
            )
            if imported:
                logger.warning("Imported %s into %s as %s.", image, login_server, image.target)
            else:
                logger.warning("%s has %s already: not imported again.", login_server, image.target)
    except HttpResponseError as ex:
        if image_registry.docker_hub_rate_limited(str(ex)):
            raise AzureResponseError(*image_registry.rate_limited_error(registry.name, image)) from None
        raise AzureResponseError(
            f"container registry {registry.name}: {getattr(ex, 'message', None) or ex}",
            "Fix the cause and run provision again (it reuses what is there).",
        ) from None
    values = image_registry.template_values(registry, login_server, image)
    for name, value in values.items():
        plan.parameters[name] = {"value": value}
    return {
        "name": registry.name,
        "loginServer": login_server,
        "image": values["image"],
        "created": registry.create and not what_if,
        "imported": imported,
    }
