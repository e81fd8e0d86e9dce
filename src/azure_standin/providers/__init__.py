"""The resource providers the stand-in implements, one module per namespace; KINDS is every
resource type Resource Manager routes to."""

from .app import ContainerApps, EnvStorages, Jobs, ManagedEnvironments, Revisions
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
    Jobs(),
    Registries(),
    UserAssignedIdentities(),
    RoleAssignments(),
]
