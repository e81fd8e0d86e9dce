"""Resource Manager calls the SDK az ships cannot make (its models predate revision states,
replicas' containers, getAuthToken), through az's own send_raw_request (its credentials, cloud
and proxies). Errors: az's HTTPError, the status in .response (not_found.py reads it)."""

import json
import time

from knack.log import get_logger

from . import api_versions, secret_logging
from .not_found import is_not_found, status_code
from .retry import THROTTLE_RETRIES, retry_after

logger = get_logger(__name__)

DELETE_WAIT = 900  # seconds delete waits for a resource to be gone


# Answers worth a retry: throttled (Resource Manager did nothing, and says when to come back:
# https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling)
# for any method; a passing server fault only for a GET, which is safe to repeat. az's
# send_raw_request retries none of them (the SDK clients' azure-core pipeline does).
_THROTTLED = 429
_TRANSIENT = (500, 502, 503, 504)


def call(cli_ctx, method, path, api_version=api_versions.CONTAINER_APPS, body=None):
    """JSON of the answer (None for an empty one)."""
    text = send(cli_ctx, method, path, api_version, body).text
    return json.loads(text) if text and text.strip() else None


def send(cli_ctx, method, path, api_version=api_versions.CONTAINER_APPS, body=None):
    """The answer itself (status, headers: lro.py follows a 202's operation). api_version None: the
    URL has its own (an operation URL Azure gave)."""
    from azure.cli.core.util import send_raw_request

    sep = "&" if "?" in path else "?"
    url = path if api_version is None else f"{path}{sep}api-version={api_version}"
    data = json.dumps(body) if body is not None else None
    for attempt in range(THROTTLE_RETRIES + 1):
        try:
            resp = send_raw_request(cli_ctx, method, url, body=data)
            break
        except Exception as ex:  # pylint: disable=broad-except  # az's HTTPError; anything else re-raised
            status = status_code(ex)
            retry = status == _THROTTLED or (method == "GET" and status in _TRANSIENT)
            if not retry or attempt == THROTTLE_RETRIES:
                raise
            headers = getattr(getattr(ex, "response", None), "headers", None) or {}
            time.sleep(retry_after(headers, attempt))
    return resp


def log_stream_token(cli_ctx, app_id):
    """The app's getAuthToken token (the log streams' credential), its answer kept out of --debug
    like the keys (secret_logging.answer_unlogged); None when the answer has none."""
    logger.debug("POST %s/getAuthToken (the answer is a credential: not logged)", app_id)
    with secret_logging.answer_unlogged():
        answer = call(cli_ctx, "POST", f"{app_id}/getAuthToken") or {}
    return (answer.get("properties") or {}).get("token")


def get(cli_ctx, path, api_version=api_versions.CONTAINER_APPS):
    return call(cli_ctx, "GET", path, api_version)


def list_all(cli_ctx, path, api_version=api_versions.CONTAINER_APPS):
    """Every item of a paged list."""
    from azure.cli.core.util import send_raw_request

    out, page = [], get(cli_ctx, path, api_version)
    while page:
        out += page.get("value") or []
        nxt = page.get("nextLink")
        if not nxt:
            break
        page = send_raw_request(cli_ctx, "GET", nxt).json()
    return out


def resources_in_group(cli_ctx, resource_group_id):
    """The top-level resources of a resource group (ARM JSON, tags included), or [] when the
    group does not exist.
    https://learn.microsoft.com/rest/api/resources/resources/list-by-resource-group"""
    try:
        return list_all(cli_ctx, resource_group_id + "/resources", api_versions.RESOURCES)
    except Exception as ex:  # pylint: disable=broad-except
        if is_not_found(ex):
            return []
        raise


def delete(cli_ctx, resource_id, resource_type, wait):
    """DELETE a resource (gone already is fine), then (wait) poll it until it is gone."""
    api_version = api_versions.for_type(resource_type)
    try:
        call(cli_ctx, "DELETE", resource_id, api_version)
    except Exception as ex:  # pylint: disable=broad-except
        if is_not_found(ex):
            return
        raise
    deadline = time.monotonic() + DELETE_WAIT
    while wait and time.monotonic() < deadline:
        try:
            get(cli_ctx, resource_id, api_version)
        except Exception as ex:  # pylint: disable=broad-except
            if is_not_found(ex):
                return
            raise
        time.sleep(2)
