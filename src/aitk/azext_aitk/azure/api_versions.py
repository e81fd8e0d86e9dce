"""The api-versions of the Resource Manager calls the extension makes itself (send_raw_request
and the generic resource API). The SDK clients az ships keep their own (Microsoft.App 2022-10-01,
which predates revision states, replicas' containers, getAuthToken and workload profiles)."""

CONTAINER_APPS = "2024-03-01"  # Microsoft.App: apps, revisions, replicas, environments
LOG_ANALYTICS = "2022-10-01"  # Microsoft.OperationalInsights/workspaces
STORAGE = "2023-05-01"  # Microsoft.Storage/storageAccounts
RESOURCES = "2021-04-01"  # GET .../resourceGroups/{group}/resources (Microsoft.Resources)
# GET .../providers/Microsoft.App/locations/{location}/availableManagedEnvironmentsWorkloadProfileTypes
# (azure-rest-api-specs, Microsoft.App stable/2025-07-01/AvailableWorkloadProfiles.json)
WORKLOAD_PROFILE_TYPES = "2025-07-01"

CONTAINER_REGISTRY = "2025-04-01"  # Microsoft.ContainerRegistry/registries (delete; the SDK keeps its own)
MANAGED_IDENTITY = "2023-01-31"  # Microsoft.ManagedIdentity/userAssignedIdentities
AUTHORIZATION = "2022-04-01"  # Microsoft.Authorization/roleAssignments

BY_TYPE = {
    "Microsoft.ContainerRegistry/registries": CONTAINER_REGISTRY,
    "Microsoft.ManagedIdentity/userAssignedIdentities": MANAGED_IDENTITY,
    "Microsoft.Authorization/roleAssignments": AUTHORIZATION,
    "Microsoft.App/containerApps": CONTAINER_APPS,
    "Microsoft.App/managedEnvironments": CONTAINER_APPS,
    "Microsoft.App/jobs": CONTAINER_APPS,
    "Microsoft.OperationalInsights/workspaces": LOG_ANALYTICS,
    "Microsoft.Storage/storageAccounts": STORAGE,
}


def for_type(resource_type):
    """The api-version for a resource type ("Microsoft.App/containerApps", …)."""
    return BY_TYPE.get(resource_type, CONTAINER_APPS)
