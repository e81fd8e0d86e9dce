"""`provision --image-registry NAME`: the serving image copied into the user's own Azure Container
Registry (server-side, as `az acr import` does: no Docker, works in Cloud Shell) and pulled from
there by the container app with a user-assigned managed identity that holds AcrPull on the
registry (no admin user, no password; no Docker Hub pull limits, a same-region pull).

Pure decisions: the registry name rules, the image to import and its tag in the registry, reuse
or create, the template parameters, the plan lines. azure/container_registry.py does the calls.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidNameError, RegistryError

# Registry names: 5-50 alphanumerics, unique across Azure; the login server is the lower-cased name.
# https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules
# (#microsoftcontainerregistry)
NAME_MIN, NAME_MAX = 5, 50
_NAME = re.compile(r"[A-Za-z0-9]+")
# A registry provision creates: the cheapest tier (10 GiB included storage holds the ~10 GB image).
# https://learn.microsoft.com/azure/container-registry/container-registry-skus
SKU = "Basic"
# --image-streaming: artifact streaming "is only available in the Premium service tiers (also known as
# SKUs)"; "If the user is on Basic or Standard SKUs, the following commands will fail"
# (https://learn.microsoft.com/azure/container-registry/container-registry-artifact-streaming,
# "Availability and pricing information" and "Start artifact streaming"). The ACA serverless GPU page
# names it as a cold-start lever: "Artifact streaming: ... your container images must be hosted in a
# premium Azure Container Registry" (https://learn.microsoft.com/azure/container-apps/gpu-serverless-overview,
# "Improve GPU cold start").
STREAMING_SKU = "Premium"
# What a registry costs per day, whether it is used or not (USD, pay-as-you-go, the tiers' daily
# "Registry operations" price on https://azure.microsoft.com/pricing/details/container-registry/ as of
# 2026-12; Basic's $0.167 per day is also the worked example of container-registry-skus). Included
# storage: 10, 100 and 500 GiB; a streaming artifact is a second copy of the image's content stored
# beside it ("the original and the streaming artifact"), within Premium's 500 GiB for the ~12 GB image.
DAILY_PRICE_USD = {"Basic": 0.167, "Standard": 0.667, "Premium": 1.667}
# Artifact streaming converts Linux AMD64 images only ("Only images with Linux AMD64 architecture are
# supported"; of a multi-architecture image only its AMD64 one): the vLLM image is one.
STREAMING_PLATFORM = "linux/amd64"
# The streaming artifact's type, a referrer of the image (az acr manifest list-referrers shows it;
# azure-cli acr/artifact_streaming.py checks for it before creating one).
STREAMING_ARTIFACT_TYPE = "application/vnd.azure.artifact.streaming.v1"
DOCKER_HUB = "docker.io"
# The template parameters of the pull (templates/inference.bicep).
FROM_REGISTRY, REGISTRY_NAME, REGISTRY_SERVER = "imageFromRegistry", "imageRegistryName", "imageRegistryServer"
TEMPLATE_PARAMETERS = (FROM_REGISTRY, REGISTRY_NAME, REGISTRY_SERVER)
# The registry's resource group when it is not the app's (the template deploys the AcrPull role
# there, in a module); passed only then, so a template from before it still pulls from its own group.
REGISTRY_GROUP = "imageRegistryResourceGroup"
# What ACR answers an import of a tag it already has (mode NoForce: "any existing target tags will
# fail the operation before any copying begins", ImportMode in the REST spec).
_TAG_EXISTS = "already exists in target registry"


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a container registry name, or None when it can."""
    if not name:
        return "it is empty"
    if not NAME_MIN <= len(name) <= NAME_MAX:
        return f"it has {len(name)} characters ({NAME_MIN}-{NAME_MAX})"
    bad = sorted({c for c in name if not _NAME.fullmatch(c)})
    if bad:
        return "it contains " + ", ".join(repr(c) for c in bad) + " (only letters and digits)"
    return None


def check_name(name: str) -> str:
    """`name` when it is a valid registry name, else InvalidNameError (before anything is created)."""
    problem = name_problem(name)
    if problem:
        raise InvalidNameError(
            f"--image-registry {name!r} is not a valid container registry name: {problem}",
            f"Use {NAME_MIN}-{NAME_MAX} letters and digits, e.g. --image-registry myaitkregistry.",
        )
    return name


@dataclass(frozen=True)
class SourceImage:
    registry: str  # "docker.io"
    repository: str  # "vllm/vllm-openai"
    tag: str  # "v0.32.0"

    @property
    def target(self) -> str:
        """The repository:tag the image gets in the user's registry (what `az acr import` names it)."""
        return f"{self.repository}:{self.tag}"

    def __str__(self) -> str:
        return f"{self.registry}/{self.target}"


def source_image(image: str) -> SourceImage:
    """The registry, repository and tag of an image reference as Docker reads it: no host part
    (no '.', ':' or 'localhost' before the first '/') means Docker Hub, no tag means latest."""
    ref = image.strip()
    if not ref or "@" in ref or any(c.isspace() for c in ref):
        raise RegistryError(
            f"the image {image!r} cannot be imported: give a repository and a tag (no digest)",
            "Leave --image out (the pinned vLLM image), or pass one such as vllm/vllm-openai:v0.32.0.",
        )
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = DOCKER_HUB, ref
    repo, _, tag = path.rpartition(":")
    if not repo or "/" in tag:
        repo, tag = path, "latest"
    if host == DOCKER_HUB and "/" not in repo:
        repo = f"library/{repo}"  # Docker Hub's official images
    return SourceImage(host, repo, tag)


@dataclass(frozen=True)
class Found:
    """A registry of that name in the subscription."""

    resource_group: str
    location: str
    login_server: str
    provisioned: bool  # tagged aitkProvisioned: an earlier provision created it
    sku: str = ""  # its tier: Basic, Standard or Premium


@dataclass(frozen=True)
class RegistryPlan:  # pylint: disable=too-many-instance-attributes  # one field per decided fact
    name: str
    resource_group: str
    location: str
    create: bool
    login_server: str | None  # None until a new one is created
    provisioned: bool  # provision created it (now, or before): delete removes it
    app_group: str = ""  # the endpoint's resource group
    sku: str = SKU  # the tier a new one gets, or the one an existing one has
    streaming: bool = False  # --image-streaming: a streaming artifact for the imported image

    @property
    def elsewhere(self) -> bool:
        """The registry is in another resource group of the subscription than the app."""
        return bool(self.app_group) and self.resource_group.lower() != self.app_group.lower()


def plan(name: str, found: Found | None, group: str, location: str, streaming: bool = False) -> RegistryPlan:
    """Reuse the registry of that name in the subscription, in whichever of its resource groups it
    is (the template grants AcrPull on it there, by a nested deployment), else create it in the
    app's group and region (Premium with --image-streaming, else Basic). A reused registry keeps its
    tier: streaming on one below Premium is refused (streaming_refusal) before anything is created."""
    if found is None:
        return RegistryPlan(
            name, group, location, True, None, True, group, STREAMING_SKU if streaming else SKU, streaming
        )
    return RegistryPlan(
        name,
        found.resource_group,
        found.location,
        False,
        found.login_server,
        found.provisioned,
        group,
        found.sku or SKU,
        streaming,
    )


def daily_price(sku: str) -> float | None:
    """USD per day of a registry of that tier (None: a tier not in the table)."""
    return next((p for k, p in DAILY_PRICE_USD.items() if k.lower() == (sku or "").lower()), None)


def _price(sku: str) -> str:
    price = daily_price(sku)
    return f"${price:.3f}/day (about ${price * 30:.0f}/month)" if price is not None else "see ACR pricing"


def streaming_refusal(registry: RegistryPlan) -> RegistryError | None:
    """--image-streaming on an existing registry below Premium: ACR refuses to generate streaming
    artifacts there, so provision refuses first, in one line, with the change that fixes it."""
    if not registry.streaming or registry.create or registry.sku.lower() == STREAMING_SKU.lower():
        return None
    return RegistryError(
        f"container registry {registry.name} is {registry.sku or 'not Premium'} tier: artifact streaming "
        f"(--image-streaming) needs the {STREAMING_SKU} tier",
        f"Upgrade it with `az acr update -n {registry.name} --sku {STREAMING_SKU}` ({STREAMING_SKU}: "
        f"{_price(STREAMING_SKU)}; {registry.sku or 'now'}: {_price(registry.sku)}) and run provision again, "
        "or leave out --image-streaming.",
    )


def streaming_needs_registry() -> RegistryError:
    return RegistryError(
        "--image-streaming streams the image from your own container registry: it needs --image-registry NAME",
        "Add --image-registry NAME (a new one is created Premium), or leave out --image-streaming.",
    )


def cost_line(registry: RegistryPlan) -> str | None:
    """What a new registry of a tier above Basic costs per day (asked before it is created), else None."""
    if not registry.create or registry.sku == SKU:
        return None
    return (
        f"Container registry {registry.name} ({registry.sku} tier, for artifact streaming) costs "
        f"{_price(registry.sku)} every day it exists, used or not (Basic: {_price(SKU)})."
    )


def name_taken(name: str, reason: str | None, message: str | None) -> RegistryError:
    """checkNameAvailability said no for a name this subscription has no registry of."""
    if (reason or "").lower() == "invalid":
        return RegistryError(
            f"--image-registry {name}: {message or 'not a valid container registry name'}",
            f"Use {NAME_MIN}-{NAME_MAX} letters and digits.",
        )
    return RegistryError(
        f"the container registry name {name} is taken (registry names are unique across Azure, and "
        "this subscription has no registry of that name)",
        "Pick another --image-registry name, e.g. with your own prefix.",
    )


def predicted_login_server(name: str, suffix: str | None) -> str:
    """A registry's login server before it exists: its lower-cased name and the cloud's suffix
    (".azurecr.io" in Azure's public cloud)."""
    return f"{name.lower()}{suffix or '.azurecr.io'}"


def template_values(registry: RegistryPlan, login_server: str, image: SourceImage) -> dict[str, Any]:
    """The template parameters of a pull from the registry (and the image there)."""
    values: dict[str, Any] = {
        FROM_REGISTRY: True,
        REGISTRY_NAME: registry.name,
        REGISTRY_SERVER: login_server,
        "image": f"{login_server}/{image.target}",
    }
    if registry.elsewhere:
        values[REGISTRY_GROUP] = registry.resource_group
    return values


def missing_parameters(types: Mapping[str, str], registry: RegistryPlan | None = None) -> list[str]:
    """The pull's parameters a template lacks (a workspace's Bicep from before --image-registry, or
    from before registries of another resource group, when the registry is in one)."""
    wanted = TEMPLATE_PARAMETERS + ((REGISTRY_GROUP,) if registry is not None and registry.elsewhere else ())
    return [p for p in wanted if p not in types]


def template_too_old(bicep: str, missing: list[str]) -> RegistryError:
    since = "registries of another resource group" if missing == [REGISTRY_GROUP] else "--image-registry"
    return RegistryError(
        f"{bicep} has no parameter {', '.join(missing)}: it predates {since}",
        "Merge the shipped template's image pull (imageFromRegistry, the pull identity, its AcrPull role "
        "assignment, the app's identity and registries) into it, or deploy without --image-registry.",
    )


def docker_hub_rate_limited(message: str) -> bool:
    """True when an import failed because Docker Hub refused its anonymous pull (`toomanyrequests`):
    Registries_ImportImage from docker.io without credentials is anonymous, so Docker Hub's rate
    limits apply (https://learn.microsoft.com/azure/container-registry/buffer-gate-public-content)."""
    return "toomanyrequests" in (message or "").lower()


def rate_limited_error(registry: str, image: SourceImage) -> tuple[str, str]:
    """(the one line, what to do) for an import Docker Hub refused."""
    return (
        f"container registry {registry}: Docker Hub refused the import of {image.registry}/{image.target} "
        "(toomanyrequests: its rate limit on anonymous pulls, which an import is)",
        "Run provision again in a while (Docker Hub's limit is per time window; provision reuses the registry "
        "and imports only what is missing).",
    )


def tag_already_there(message: str) -> bool:
    """True when a failed import failed only because the tag is in the registry already."""
    return _TAG_EXISTS in (message or "")


def plan_lines(registry: RegistryPlan, image: SourceImage) -> list[str]:
    """What provision does about the registry, for stderr (and --what-if)."""
    if registry.create:
        where = (
            f"new, {registry.sku} tier, in resource group '{registry.resource_group}' ({registry.location}); "
            f"{_price(registry.sku)}"
        )
    else:
        where = f"reused ({registry.login_server}, resource group '{registry.resource_group}'), {registry.sku} tier"
        if registry.elsewhere:
            where += (
                f"; its AcrPull role assignment is deployed there, in a nested deployment of the template "
                f"(the app stays in '{registry.app_group}')"
            )
    lines = [
        f"Container registry {registry.name}: {where}",
        f"Image {image}: imported into it server-side as {image.target} (skipped when that tag is there)",
        "The app pulls it with a user-assigned managed identity that holds AcrPull on the registry "
        "(no admin user, no password)",
    ]
    if registry.streaming:
        lines.append(streaming_line(registry, image))
    return lines


def streaming_line(registry: RegistryPlan, image: SourceImage) -> str:
    """What --image-streaming does after the import (plan and --what-if)."""
    return (
        f"Artifact streaming ({STREAMING_PLATFORM} images only): after the import the {registry.sku} registry "
        f"generates a streaming artifact for {image.target} (a second artifact beside the image, about its size) "
        f"and converts new imports to {image.repository} (as `az acr artifact-streaming create` and `update "
        "--enable-streaming true` do)"
    )


def streaming_result_line(registry: str, image: SourceImage, state: Mapping[str, Any]) -> str:
    """What provision says about the streaming artifact it asked for ({"status", "operation"})."""
    if state.get("status") == "Succeeded":
        return f"Artifact streaming: {image.target} in {registry} has its streaming artifact; replicas stream it."
    return (
        f"Artifact streaming: {registry} is generating the streaming artifact of {image.target} "
        f"(operation {state.get('operation')}, {state.get('status')}); until it is done replicas pull the whole "
        f"image. Progress: az acr artifact-streaming operation show -n {registry} --image {image.target}"
    )


def streaming_refused(registry: str, image: SourceImage, message: str) -> tuple[str, str]:
    """(the one line, what to do) when ACR refuses artifact streaming after the import."""
    return (
        f"container registry {registry}: artifact streaming of {image.target} was refused: {message}",
        "The registry and the image are in place and the app pulls the whole image; fix the cause and run "
        "provision again with --image-streaming (it reuses the registry and asks only for the streaming artifact).",
    )


def registry_in_use(image: str | None, registries: list[tuple[str | None, str | None]]) -> str | None:
    """The name of the registry an existing app pulls its image from with a managed identity (an
    earlier `provision --image-registry`), or None: the image's host must be one of the app's
    registries entries (server, identity) that has an identity. A registry's login server is its
    lower-cased name followed by the cloud's suffix, so the name is the host's first label."""
    if not image or "/" not in image:
        return None
    host = image.split("/", 1)[0].lower()
    for server, identity in registries:
        if server and identity and server.lower() == host:
            name = host.split(".", 1)[0]
            return name if name_problem(name) is None else None
    return None


def kept_line(name: str) -> str:
    """What provision says when it keeps pulling from the registry an earlier provision chose."""
    return (
        f"The app pulls its image from container registry {name} (an earlier --image-registry): kept. "
        "Pass --image to pull another image from where it names."
    )
