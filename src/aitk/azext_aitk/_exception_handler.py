"""The command group's exception handler: the extension's own errors (core/errors.py) become
the az error class each names, with its recommendation; a network failure becomes one line
saying Azure could not be reached; anything else goes on to az as is."""

import re

_HOST = re.compile(r"host='([^']+)'(?:, port=(\d+))?")


def to_az_error(ex):
    """The azure.cli.core.azclierror instance for an AitkError."""
    from azure.cli.core import azclierror

    return getattr(azclierror, ex.az_error)(str(ex), ex.recommendation)


def _network_failure(ex):
    """The connection error behind `ex` (itself, its cause or context), or None."""
    import requests
    from azure.core.exceptions import ServiceRequestError

    seen = set()
    while ex is not None and id(ex) not in seen:
        seen.add(id(ex))
        if isinstance(ex, (ServiceRequestError, requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
            return ex
        ex = ex.__cause__ or ex.__context__
    return None


def network_error(ex):
    """AzureConnectionError for a request that never got an answer: one line, what to check."""
    from azure.cli.core.azclierror import AzureConnectionError

    text = str(ex)
    match = _HOST.search(text)
    where = f" ({match.group(1)}{':' + match.group(2) if match.group(2) else ''})" if match else ""
    why = "the connection was refused" if "refused" in text.lower() else "no answer"
    if "timed out" in text.lower() or "timeout" in type(ex).__name__.lower():
        why = "the connection timed out"
    elif "name or service not known" in text.lower() or "getaddrinfo" in text.lower():
        why = "the host name did not resolve"
    return AzureConnectionError(
        f"could not reach Azure{where}: {why}",
        "Check your network connection and proxy settings (HTTPS_PROXY), and the cloud az talks to "
        "(`az cloud show --query endpoints.resourceManager`); then run the command again.",
    )


def exception_handler(ex):
    """az calls this with whatever a command raised (azure.cli.core.commands, `exception_handler`
    of a command group); it must raise."""
    from .core.errors import AitkError

    if isinstance(ex, AitkError):
        raise to_az_error(ex) from None
    failure = _network_failure(ex)
    if failure is not None:
        raise network_error(failure) from None
    raise ex
