"""The command group's exception handler: the extension's own errors (core/errors.py) become
the az error class each names, with its recommendation; a network failure becomes one line
saying Azure could not be reached; a share that does not exist becomes one line naming the share,
the config key that names it and the fix; anything else goes on to az as is."""

import re
from urllib.parse import unquote, urlparse

# The config file this command works from (one command per az process; operations/_config.py
# sets it): named when Azure says that something it names does not exist.
config_in_use: dict[str, str | None] = {"path": None}

_HOST = re.compile(r"host='([^']+)'(?:, port=(\d+))?")


def to_az_error(ex):
    """The azure.cli.core.azclierror instance for an AitkError."""
    from azure.cli.core import azclierror

    return getattr(azclierror, ex.az_error)(str(ex), ex.recommendation)


def is_az_error(ex):
    """Whether `ex` is az's own error already (an azure.cli.core.azclierror class): passed on as is."""
    from azure.cli.core.azclierror import AzCLIError

    return isinstance(ex, AzCLIError)


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


def _share_and_account(url):
    """(share, account) of an Azure Files request URL: https://ACCOUNT.file.SUFFIX/SHARE/… or, on
    an emulator's path-style endpoint (an IP address or localhost), https://HOST/ACCOUNT/SHARE/…"""
    parsed = urlparse(url or "")
    parts = [unquote(p) for p in parsed.path.split("/") if p]
    host = parsed.hostname or ""
    if host == "localhost" or re.fullmatch(r"[\d.]+|[\da-f:]+", host):
        return (parts[1] if len(parts) > 1 else None), (parts[0] if parts else None)
    return (parts[0] if parts else None), host.split(".", 1)[0] or None


def share_not_found_error(ex):
    """ResourceNotFoundError naming the share, the storage account, the config key and file, and
    the fix, for Azure Files' ShareNotFound (its own message is four lines: the text, RequestId,
    Time, ErrorCode); None for any other error."""
    from azure.cli.core.azclierror import ResourceNotFoundError

    if getattr(ex, "error_code", None) != "ShareNotFound":
        return None
    request = getattr(getattr(ex, "response", None), "request", None)
    share, account = _share_and_account(getattr(request, "url", None))
    where = config_in_use["path"] or "infra/finetuning.config.json (before provision) or infra/inference.config.json"
    account_text = f" in storage account '{account}'" if account else ""
    return ResourceNotFoundError(
        f"the file share '{share or '?'}'{account_text} does not exist (FILE_SHARE_NAME in {where} names it)",
        f"Put the share's name in FILE_SHARE_NAME (`az storage share-rm list --storage-account {account or 'ACCOUNT'} "
        "-o table` lists them), or create it with `az storage share-rm create`.",
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
    missing_share = share_not_found_error(ex)
    if missing_share is not None:
        raise missing_share from None
    raise ex
