"""`az aitk inference logs`: the container's console log via the app's log streaming endpoint."""
import sys

from knack.log import get_logger

from . import log_stream
from . import workspace as ws_mod
from . import _rest
from ._app import get_app, load_config

logger = get_logger(__name__)


def open_stream(cmd, cfg, follow, tail, app_json=None, revision=None):
    """(requests response streaming text lines, description), or (None, why) when no replica runs."""
    import requests
    aid = _rest.app_id(cfg)
    app_json = app_json or _rest.get(cmd.cli_ctx, aid)
    props = app_json.get("properties") or {}
    revision = revision or props.get("latestRevisionName")
    if not revision:
        return None, "the app has no revision yet"
    replicas = _rest.list_all(cmd.cli_ctx, f"{aid}/revisions/{revision}/replicas")
    picked = log_stream.pick_replica(replicas)
    if picked is None or not picked[1]:
        return None, (f"revision {revision} has no replica running (scaled to zero or failed to "
                      "start); a request to the endpoint starts one")
    replica, container = picked
    token = (_rest.call(cmd.cli_ctx, "POST", f"{aid}/getAuthToken") or {}).get("properties", {}).get("token")
    url = log_stream.logstream_url(props.get("eventStreamEndpoint"), cfg[ws_mod.SUBSCRIPTION_ID],
                                   cfg[ws_mod.RESOURCE_GROUP_NAME], cfg[ws_mod.ACA_APP_NAME],
                                   revision, replica, container)
    logger.info("log stream: %s", url)
    try:
        resp = requests.get(url, params=log_stream.query(follow, tail), stream=True,
                            headers={"Authorization": f"Bearer {token}"},
                            timeout=(15.0, None if follow else 60.0))
    except requests.RequestException as e:
        raise log_stream.LogStreamError(f"the log stream did not answer ({type(e).__name__})") from None
    if resp.status_code != 200:
        resp.close()
        raise log_stream.LogStreamError(f"the log stream answered {resp.status_code}",
                                        "Try again; `az containerapp logs show` reads the same stream.")
    return resp, f"{revision}/{replica}/{container}"


def tail_lines(cmd, cfg, tail, app_json=None):
    """The last `tail` console lines of the latest revision's replica ([] when none runs)."""
    resp, _ = open_stream(cmd, cfg, False, tail, app_json=app_json)
    if resp is None:
        return []
    with resp:
        return list(log_stream.text_lines(resp.iter_lines()))


def run(cmd, workspace=None, follow=False, tail=None):
    tail = log_stream.validate_tail(tail)
    _, cfg = load_config(cmd, workspace)
    get_app(cmd, cfg)                    # a missing app: one clear error
    resp, where = open_stream(cmd, cfg, follow, tail)
    if resp is None:
        logger.warning("No log to show: %s.", where)
        return None
    logger.warning("Console log of %s%s", where, " (Ctrl-C stops)" if follow else "")
    try:
        for line in log_stream.text_lines(resp.iter_lines()):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    finally:
        resp.close()
    return None
