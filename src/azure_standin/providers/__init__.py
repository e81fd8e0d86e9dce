"""The resource providers the stand-in implements, one module per namespace; KINDS is every
resource type Resource Manager routes to."""

from .app import ContainerApps, EnvStorages, Jobs, ManagedEnvironments, Replicas, Revisions
from .container_registry import Registries
from .identity import RoleAssignments, UserAssignedIdentities
from .operational_insights import Workspaces
from .storage import FileServices, Shares, StorageAccounts

KINDS = [
    StorageAccounts(),
    FileServices(),
    Shares(),
    Workspaces(),
    ManagedEnvironments(),
    EnvStorages(),
    ContainerApps(),
    Revisions(),
    Replicas(),
    Jobs(),
    Registries(),
    UserAssignedIdentities(),
    RoleAssignments(),
]
