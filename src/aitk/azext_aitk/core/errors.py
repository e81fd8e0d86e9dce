"""The extension's own errors: one clear message, what to do about it, and the az error class.

`az_error` names a class of azure.cli.core.azclierror; the command group's exception handler
(`_exception_handler.py`) raises that class, so core never imports az.
"""


class AitkError(Exception):
    """A mistake the user can fix: `message` says what is wrong, `recommendation` what to do."""

    az_error = "ValidationError"

    def __init__(self, message: str, recommendation: str | None = None) -> None:
        super().__init__(message)
        self.recommendation = recommendation


class WorkspaceError(AitkError):
    """A workspace file is missing or wrong. `kind`: "missing", "malformed", "incomplete"
    (provision did not finish) or "invalid"."""

    def __init__(
        self,
        message: str,
        recommendation: str | None = None,
        kind: str = "invalid",
        path: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message, recommendation)
        self.kind = kind
        self.path = path
        self.line = line

    @property
    def az_error(self) -> str:  # type: ignore[override]
        return {"missing": "FileOperationError", "malformed": "InvalidArgumentValueError"}.get(
            self.kind, "ValidationError"
        )


class ParameterError(AitkError):
    """A template parameter (file or --parameters) is wrong."""

    az_error = "InvalidArgumentValueError"


class AdapterSpecError(AitkError):
    """A `--adapter NAME=PATH` is wrong."""

    az_error = "InvalidArgumentValueError"


class InvalidNameError(AitkError):
    """A name breaks Azure's naming rules (core/names.py)."""

    az_error = "InvalidArgumentValueError"


class RegistryError(AitkError):
    """`provision --image-registry`: the registry cannot be used as asked (core/provision/image_registry.py)."""

    az_error = "InvalidArgumentValueError"


class SyncError(AitkError):
    """A sync would touch the share outside the folders deploy owns."""


class ChatError(AitkError):
    """The server refused or broke off a chat request, or a chat option is wrong."""


class LogStreamError(AitkError):
    """The log stream cannot be read, or a logs option is wrong."""


class EnvironmentProfileError(AitkError):
    """An existing Container Apps environment lacks the GPU workload profile asked for."""


class AzureFailure(AitkError):
    """An Azure error, classified (core/provision/arm_errors.py): `kind` picks the az error class."""

    _CLASSES = {
        "resource_group_not_found": "ResourceNotFoundError",
        "provider_not_registered": "ValidationError",
        "quota": "ValidationError",
        "deployment_failed": "DeploymentError",
    }

    def __init__(self, kind: str, message: str, recommendation: str | None = None) -> None:
        super().__init__(message, recommendation)
        self.kind = kind

    @property
    def az_error(self) -> str:  # type: ignore[override]
        return self._CLASSES.get(self.kind, "AzureResponseError")


class MissingTemplatesError(AitkError):
    """The installed extension lacks its template files."""

    az_error = "CLIInternalError"


class ModelFitError(AitkError):
    """The base model cannot be served on the GPU profile chosen (or on any)."""


class UnsizableModelError(ModelFitError):
    """config.json lacks what the memory model needs: the fit cannot say (provision goes on)."""


class RegionError(AitkError):
    """The location does not exist, or does not offer the GPU workload profile chosen."""

    az_error = "InvalidArgumentValueError"


class EndpointError(AitkError):
    """The endpoint named by the workspace is not the container app's own HTTPS ingress."""


class WakeError(AitkError):
    """A scaled-to-zero endpoint did not start within the `--wait` budget."""

    az_error = "AzureResponseError"


class WaitValueError(AitkError):
    """A `--wait`/`--timeout` number of seconds is out of range."""

    az_error = "InvalidArgumentValueError"


class CompareError(AitkError):
    """A compare input (prompts file, model list, report path) is wrong, or the server refused."""


class BenchError(AitkError):
    """A bench option is wrong, the endpoint is not the configured one, or the load failed."""


class SubscriptionNotVisibleError(AitkError):
    """A subscription a config file or --subscription names is not one the signed-in account sees."""

    az_error = "ResourceNotFoundError"


class ConfirmationRequiredError(AitkError):
    """A command needs the user's yes and there is no terminal to ask (--yes gives it)."""

    az_error = "NoTTYError"


class DeclinedError(AitkError):
    """The user answered no to a confirmation: nothing was changed."""

    az_error = "ManualInterrupt"


class ReplicaCountError(AitkError):
    """A replica count is outside what Azure Container Apps allows."""

    az_error = "InvalidArgumentValueError"


class StorageElsewhereError(AitkError):
    """The storage account provision would use is in another resource group of the subscription."""

    az_error = "InvalidArgumentValueError"


class NotFoundError(AitkError):
    """A resource the workspace's config names does not exist in Azure."""

    az_error = "ResourceNotFoundError"


class AzureStateError(AitkError):
    """Azure answered, but with something the command cannot use (a registry's import refused or
    its login server not the planned one, a storage account without a file endpoint)."""

    az_error = "AzureResponseError"


class EndpointNotReadyError(AitkError):
    """The endpoint did not serve (or did not accept the key) within the time given, or did not
    serve an adapter deploy uploaded."""

    az_error = "AzureResponseError"


class ReplicaStartError(AitkError):
    """The system log shows that the app's replica does not start (operations/_startup_watch.py)."""

    az_error = "AzureResponseError"


class KeyRotationError(AitkError):
    """`key rotate` cannot start: the app serves one key only, or another key's rotation is pending."""


class KeyRotationFailedError(AitkError):
    """`key rotate` changed the key but Azure refused the restart, or the server has not taken it."""

    az_error = "AzureResponseError"


class MissingLauncherError(AitkError):
    """The installed extension lacks its launcher package (aitk_serve)."""

    az_error = "CLIInternalError"
