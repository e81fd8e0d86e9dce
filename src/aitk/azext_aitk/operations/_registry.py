"""`provision --image-registry NAME`, in provision's phases: read the registry of that name,
plan the pull (its template parameters go into the frozen plan), check the name before anything
is created, then create the registry (when new) and import the serving image into it
(core/provision/image_registry.py decides, azure/container_registry.py calls Azure)."""

from dataclasses import dataclass

from knack.log import get_logger

from ..azure import container_registry
from ..core.errors import AzureStateError
from ..core.init import shipped_templates
from ..core.provision import image_registry

logger = get_logger(__name__)


@dataclass(frozen=True)
class PlannedPull:
    registry: image_registry.RegistryPlan
    image: image_registry.SourceImage
    login_server: str  # the existing registry's, or the one a new registry will have
    values: dict  # the template parameters of the pull


def read(cli_ctx, subscription, name):
    """The registry of that name in the subscription (image_registry.Found), or None. Reads only."""
    return None if name is None else container_registry.find(cli_ctx, subscription, name)


def _login_server_suffix(cli_ctx):
    try:
        return cli_ctx.cloud.suffixes.acr_login_server_endpoint
    except Exception:  # pylint: disable=broad-except  # a cloud without the suffix (CloudSuffixNotSetException)
        return None


def plan(cli_ctx, name, found, *, group, location, template, image, streaming=False):
    """The pull (None without --image-registry): reuse the registry of that name in the
    subscription (in any of its resource groups), else create one in the app's group and region
    (Premium with --image-streaming). image: the image the plan deploys otherwise (None: the shipped one)."""
    if name is None:
        if streaming:
            raise image_registry.streaming_needs_registry()
        return None
    missing = image_registry.missing_parameters(template.types)
    if missing:
        raise image_registry.template_too_old(template.file, missing)
    source = image_registry.source_image(image or shipped_templates.default_image())
    registry = image_registry.plan(name, found, group, location, streaming)
    missing = image_registry.missing_parameters(template.types, registry)
    if missing:
        raise image_registry.template_too_old(template.file, missing)
    login_server = registry.login_server or image_registry.predicted_login_server(
        registry.name, _login_server_suffix(cli_ctx)
    )
    return PlannedPull(registry, source, login_server, image_registry.template_values(registry, login_server, source))


def check(cli_ctx, subscription, pull):
    """Pre-flight: a registry to create must have a name free across Azure; streaming needs a
    Premium one. Reads only."""
    if pull is None:
        return
    refusal = image_registry.streaming_refusal(pull.registry)
    if refusal is not None:
        raise refusal
    if pull.registry.create:
        available, reason, message = container_registry.name_availability(cli_ctx, subscription, pull.registry.name)
        if not available:
            raise image_registry.name_taken(pull.registry.name, reason, message)
    for line in image_registry.plan_lines(pull.registry, pull.image):
        logger.warning("%s", line)


def create_and_import(cli_ctx, subscription, pull):
    """Create the registry when new and import the image. Changes Azure. Returns what provision
    reports ({"name", "loginServer", "image", "created", "imported"}), or None."""
    if pull is None:
        return None
    from azure.core.exceptions import HttpResponseError

    registry, image = pull.registry, pull.image
    try:
        if registry.create:
            logger.warning("Creating the container registry %s…", registry.name)
            login_server = container_registry.create(
                cli_ctx, subscription, registry.resource_group, registry.name, registry.location, sku=registry.sku
            )
            if (login_server or "").lower() != pull.login_server.lower():
                raise AzureStateError(
                    f"container registry {registry.name} got the login server {login_server}, "
                    f"not {pull.login_server} as planned",
                    "Run provision again: it reuses the registry with its login server.",
                )
        logger.warning("Importing %s into %s (server-side)…", image, registry.name)
        imported = container_registry.import_image(cli_ctx, subscription, registry.resource_group, registry.name, image)
    except HttpResponseError as ex:
        if image_registry.docker_hub_rate_limited(str(ex)):
            raise AzureStateError(*image_registry.rate_limited_error(registry.name, image)) from None
        raise AzureStateError(
            f"container registry {registry.name}: {getattr(ex, 'message', None) or ex}",
            "Fix the cause and run provision again (it reuses what is there).",
        ) from None
    if imported:
        logger.warning("Imported %s into %s as %s.", image, pull.login_server, image.target)
    else:
        logger.warning("%s has %s already: not imported again.", pull.login_server, image.target)
    streaming = stream(cli_ctx, subscription, pull) if registry.streaming else None
    return report(pull, created=registry.create, imported=imported, streaming=streaming)


def stream(cli_ctx, subscription, pull):
    """Artifact streaming for the imported image (ACR's data plane). Changes Azure. Returns the state
    ({"digest", "status", "operation"}); a refusal is one line (the registry and image stay)."""
    from requests import RequestException

    registry, image = pull.registry, pull.image
    try:
        state = container_registry.start_streaming(
            cli_ctx, subscription, pull.login_server, image.repository, image.tag
        )
    except container_registry.DataPlaneError as ex:
        raise AzureStateError(*image_registry.streaming_refused(registry.name, image, str(ex))) from None
    except RequestException as ex:
        raise AzureStateError(
            *image_registry.streaming_refused(registry.name, image, f"{pull.login_server} unreachable ({ex})")
        ) from None
    logger.warning("%s", image_registry.streaming_result_line(registry.name, image, state))
    return state


def report(pull, created=False, imported=False, streaming=None):
    out = {
        "name": pull.registry.name,
        "loginServer": pull.login_server,
        "image": pull.values["image"],
        "created": created,
        "imported": imported,
    }
    if pull.registry.streaming:
        out["sku"] = pull.registry.sku
        out["streaming"] = streaming
    return out


def cost_lines(pull):
    """The daily cost of a new registry above Basic, for provision's confirmation ([] otherwise)."""
    line = image_registry.cost_line(pull.registry) if pull is not None else None
    return [line] if line else []
