"""Domain errors → az's error classes (each with a recommendation)."""
from azure.cli.core import azclierror


def to_cli_error(ex):
    from .adapter_specs import AdapterSpecError
    from .parameters import ParameterError
    from .sync_plan import SyncError
    from .workspace import WorkspaceError
    if isinstance(ex, WorkspaceError):
        if ex.kind == "missing":
            return azclierror.FileOperationError(str(ex), ex.recommendation)
        if ex.kind == "malformed":
            return azclierror.InvalidArgumentValueError(str(ex), ex.recommendation)
        return azclierror.ValidationError(str(ex), ex.recommendation)
    if isinstance(ex, ParameterError):
        return azclierror.InvalidArgumentValueError(str(ex), ex.recommendation)
    if isinstance(ex, AdapterSpecError):
        return azclierror.InvalidArgumentValueError(str(ex), ex.recommendation)
    if isinstance(ex, SyncError):
        return azclierror.ValidationError(str(ex))
    from .chat import ChatError
    from .log_stream import LogStreamError
    if isinstance(ex, (ChatError, LogStreamError)):
        return azclierror.ValidationError(str(ex), ex.recommendation)
    return None


def azure_error(kind, message, recommendation):
    from . import azure_errors as ae
    cls = {
        ae.RESOURCE_GROUP_NOT_FOUND: azclierror.ResourceNotFoundError,
        ae.PROVIDER_NOT_REGISTERED: azclierror.ValidationError,
        ae.QUOTA: azclierror.ValidationError,
        ae.DEPLOYMENT_FAILED: azclierror.DeploymentError,
    }.get(kind, azclierror.AzureResponseError)
    return cls(message, recommendation)


class domain_errors:  # pylint: disable=invalid-name,too-few-public-methods
    """Context manager: re-raise the domain modules' errors as az errors."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None:
            return False
        converted = to_cli_error(exc)
        if converted is not None:
            raise converted from None
        return False
