"""Does the location exist, and does it offer the GPU workload profile type? Pure: the operation
asks Azure (azure/managed_environment.py: availableManagedEnvironmentsWorkloadProfileTypes) and
hands the answers in; this module decides and words the refusal.

An unknown location: Resource Manager answers a provider's location-scoped request for a region
the provider is not registered in with `NoRegisteredProviderFound` ("No registered resource
provider found for location '{location}' and API version '{api-version}' for type
'{resource-type}'", https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/
error-register-resource-provider), and a resource group PUT with `LocationNotAvailableForResourceGroup`
(https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/error-invalid-location
lists it beside `InvalidLocation`/`LocationNotAvailableForResourceType`). Either code means the
location cannot hold the environment.
"""

import re
from collections.abc import Callable, Iterable

from ..errors import RegionError
from ..gpu_profiles import GpuProfile

UNKNOWN_LOCATION_CODES = {
    "noregisteredproviderfound",
    "locationnotavailableforresourcegroup",
    "locationnotavailableforresourcetype",
    "invalidlocation",
}


def normalize(location: str) -> str:
    """'East US' -> 'eastus' (ARM takes a display name where it takes a name)."""
    return re.sub(r"\s+", "", str(location or "")).lower()


def is_unknown_location(error_code: str) -> bool:
    return error_code.lower() in UNKNOWN_LOCATION_CODES


def offers(types: Iterable[str] | None, workload_profile_type: str) -> bool:
    return any(str(t).lower() == workload_profile_type.lower() for t in types or [])


def _listed(regions: list[str]) -> str:
    return ", ".join(regions) if regions else "none could be listed"


def check(
    location: str, types: list[str] | None, profile: GpuProfile, regions_offering: Callable[[], list[str]]
) -> None:
    """Raise RegionError unless `types` (None: Azure rejected the location) has the profile's
    type; `regions_offering()` lists the regions that offer it (asked only to refuse)."""
    where = normalize(location)
    if types is None:
        raise RegionError(
            f"location '{location}' is not a region where Azure Container Apps can run; regions with "
            f"{profile.workload_profile_type}: {_listed(regions_offering())}",
            "Pass one of them with --location (-l), or see `az account list-locations -o table`.",
        )
    if not offers(types, profile.workload_profile_type):
        raise RegionError(
            f"{where} does not offer the {profile.workload_profile_type} workload profile ({profile.key}); "
            f"regions that do: {_listed(regions_offering())}",
            "Pass one of them with --location (-l), or another --gpu-profile. Nothing was created.",
        )
