"""core/errors.py and the command group's exception handler: each AitkError becomes the az error
class it names, message and recommendation kept; anything else goes on unchanged."""

import pytest
from azext_aitk._exception_handler import exception_handler
from azext_aitk.core import errors
from azext_aitk.core.provision import arm_errors
from azure.cli.core import azclierror


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


@pytest.mark.parametrize(
    "error, az_class",
    [
        (errors.WorkspaceError("m", "r", kind="missing"), azclierror.FileOperationError),
        (errors.WorkspaceError("m", "r", kind="malformed"), azclierror.InvalidArgumentValueError),
        (errors.WorkspaceError("m", "r"), azclierror.ValidationError),
        (errors.ParameterError("m", "r"), azclierror.InvalidArgumentValueError),
        (errors.AdapterSpecError("m", "r"), azclierror.InvalidArgumentValueError),
        (errors.SyncError("m"), azclierror.ValidationError),
        (errors.ChatError("m", "r"), azclierror.ValidationError),
        (errors.LogStreamError("m", "r"), azclierror.ValidationError),
        (errors.EnvironmentProfileError("m", "r"), azclierror.ValidationError),
        (errors.MissingTemplatesError("m"), azclierror.CLIInternalError),
        (arm_errors.failure(arm_errors.RESOURCE_GROUP_NOT_FOUND, "m", "r"), azclierror.ResourceNotFoundError),
        (arm_errors.failure(arm_errors.PROVIDER_NOT_REGISTERED, "m", "r"), azclierror.ValidationError),
        (arm_errors.failure(arm_errors.QUOTA, "m", "r"), azclierror.ValidationError),
        (arm_errors.failure(arm_errors.DEPLOYMENT_FAILED, "m", "r"), azclierror.DeploymentError),
        (arm_errors.failure(arm_errors.OTHER, "m", "r"), azclierror.AzureResponseError),
    ],
)
def test_handler_raises_the_named_az_error(error, az_class):
    with pytest.raises(az_class) as e:
        exception_handler(error)
    assert type(e.value) is az_class and str(e.value) == "m"
    assert e.value.recommendations == ([error.recommendation] if error.recommendation else [])


def test_every_error_names_a_real_az_error_class():
    for cls in _all_subclasses(errors.AitkError):
        name = cls("m").az_error if cls is not errors.AzureFailure else cls("x", "m").az_error
        assert issubclass(getattr(azclierror, name), azclierror.AzCLIError), cls


def test_other_exceptions_pass_unchanged():
    original = KeyError("x")
    with pytest.raises(KeyError) as e:
        exception_handler(original)
    assert e.value is original
    az = azclierror.ValidationError("already an az error")
    with pytest.raises(azclierror.ValidationError) as e:
        exception_handler(az)
    assert e.value is az


def test_the_share_and_account_of_an_azure_files_url_either_style():
    from azext_aitk._exception_handler import _share_and_account

    assert _share_and_account("https://acct.file.core.windows.net/my%20share/aitk/x?comp=range") == ("my share", "acct")
    assert _share_and_account("https://127.0.0.1:4431/acct/share/aitk/x") == ("share", "acct")
    assert _share_and_account(None) == (None, None)
