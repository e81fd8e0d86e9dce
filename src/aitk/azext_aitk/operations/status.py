"""`az aitk inference status`: the app, its latest revision, its replicas and the server."""

from knack.log import get_logger

from ..azure import container_app, managed_environment, model_server
from ..core.monitor import status_summary
from ._config import app_url, load_config
from ._start_timeline import last_start
from ._startup_watch import find_failure

logger = get_logger(__name__)

LOG_TAIL = 50  # console lines read to find a start-up error


def inference_status(cmd, workspace=None):
    ws, cfg = load_config(cmd, workspace)
    aca = container_app.ContainerApp.from_config(cmd.cli_ctx, cfg)
    app = aca.get_json()  # read once: the log tail below reuses it
    url = app_url(ws, cfg, app)
    props = app.get("properties") or {}
    env = None
    env_id = props.get("managedEnvironmentId") or props.get("environmentId")
    if env_id:
        env = managed_environment.get_json(cmd.cli_ctx, env_id)
    revisions = aca.revisions()
    rev = status_summary.latest_revision(props, revisions)
    replicas = []
    if rev:
        replicas = aca.replicas(rev["name"])
    # /health is not gated by the key and does not wake a scaled-to-zero replica on its own
    # more than any request would; ask it only when a replica runs.
    ready, models, note = False, [], None
    if status_summary.running_replicas(replicas) or (rev or {}).get("properties", {}).get("replicas"):
        ready = model_server.health(url, timeout=10.0)
        if ready:
            try:
                models = model_server.list_models(url, aca.api_key(), timeout=15.0)
            except model_server.ServerError as e:
                note = str(e)
    elif (rev or {}).get("properties", {}).get("runningState") in ("Failed", "Degraded"):
        note = "the revision failed to start: fix the cause, then `az aitk inference deploy` restarts it"
    else:
        note = "no replica runs (scaled to zero); the first request starts one"
    log_lines = []
    rprops = (rev or {}).get("properties") or {}
    if (
        not ready
        and replicas
        and (
            rprops.get("runningState") in ("Failed", "Degraded")
            or rprops.get("healthState") == "Unhealthy"
            or any(
                (c.get("restartCount") or 0) > 0
                for r in replicas
                for c in (r.get("properties") or {}).get("containers") or []
            )
        )
    ):
        try:
            log_lines = aca.log_tail(app, LOG_TAIL)
        except Exception:  # pylint: disable=broad-except
            logger.debug("could not read the log tail", exc_info=True)
    result = status_summary.summarize(
        app, env, revisions, replicas, ready, models=models, log_lines=log_lines, note=note
    )
    if not ready:
        # the system log, else Log Analytics once no replica is left, says why the last start failed
        failure = find_failure(cmd.cli_ctx, aca, app, since=(rev or {}).get("properties", {}).get("createdTime") or "")
        if failure is not None:
            result["startupError"] = failure.message()
            result["startupErrorTime"] = failure.when
    result["resourceGroup"] = cfg.resource_group
    result["url"] = url
    result["lastStart"] = _last_start(cmd, aca, app)
    return result


def _last_start(cmd, aca, app):
    """The last start's timeline (issue 18); a report only: never fails the command."""
    try:
        return last_start(cmd, aca, app)
    except Exception:  # pylint: disable=broad-except
        logger.debug("could not build the start-up timeline", exc_info=True)
        return None
