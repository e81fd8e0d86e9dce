"""The command group's exception handler: the extension's own errors (core/errors.py) become
the az error class each names, with its recommendation; anything else goes on to az as is."""


def to_az_error(ex):
    """The azure.cli.core.azclierror instance for an AitkError."""
    from azure.cli.core import azclierror

    return getattr(azclierror, ex.az_error)(str(ex), ex.recommendation)


def exception_handler(ex):
    """az calls this with whatever a command raised (azure.cli.core.commands, `exception_handler`
    of a command group); it must raise."""
    from .core.errors import AitkError

    if isinstance(ex, AitkError):
        raise to_az_error(ex) from None
    raise ex
