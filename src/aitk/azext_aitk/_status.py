"""`az aitk inference status`."""
from knack.log import get_logger

from . import server_api, status_view
from . import workspace as ws_mod
from . import _rest
from ._app import get_app, get_key, load_config

logger = get_logger(__name__)


def run(cmd, workspace=None):
    _, cfg = load_config(cmd, workspace)
    aca, _sdk_app = get_app(cmd, cfg)
    aid = _rest.app_id(cfg)
    app = _rest.get(cmd.cli_ctx, aid)
    props = app.get("properties") or {}
    env = None
    env_id = props.get("managedEnvironmentId") or props.get("environmentId")
    if env_id:
        try:
            env = _rest.get(cmd.cli_ctx, env_id)
        except Exception:  # pylint: disable=broad-except
            logger.debug("could not read the environment", exc_info=True)
    revisions = _rest.list_all(cmd.cli_ctx, f"{aid}/revisions")
    rev = status_view.latest_revision(props, revisions)
    replicas = []
    if rev:
        replicas = _rest.list_all(cmd.cli_ctx, f"{aid}/revisions/{rev['name']}/replicas")
    url = cfg[ws_mod.ACA_APP_ENDPOINT].rstrip("/")
    # /health is not gated by the key and does not wake a scaled-to-zero replica on its own
    # more than any request would; ask it only when a replica runs.
    ready, models, note = False, [], None
    if status_view.running_replicas(replicas) or (rev or {}).get("properties", {}).get("replicas"):
        ready = server_api.health(url, timeout=10.0)
        if ready:
            try:
                models = server_api.list_models(url, get_key(aca, cfg), timeout=15.0)
            except server_api.ServerError as e:
                note = str(e)
    elif (rev or {}).get("properties", {}).get("runningState") in ("Failed", "Degraded"):
        note = "the revision failed to start: fix the cause, then `az aitk inference deploy` restarts it"
    else:
        note = "no replica runs (scaled to zero); the first request starts one"
    log_lines = []
    rprops = (rev or {}).get("properties") or {}
    if not ready and replicas and (rprops.get("runningState") in ("Failed", "Degraded")
                                   or rprops.get("healthState") == "Unhealthy"
                                   or any((c.get("restartCount") or 0) > 0 for r in replicas
                                          for c in (r.get("properties") or {}).get("containers") or [])):
        try:
            from ._logs import tail_lines
            log_lines = tail_lines(cmd, cfg, 50, app_json=app)
        except Exception:  # pylint: disable=broad-except
            logger.debug("could not read the log tail", exc_info=True)
    result = status_view.summarize(app, env, revisions, replicas, ready, models, log_lines, note)
    result["resourceGroup"] = cfg[ws_mod.RESOURCE_GROUP_NAME]
    result["url"] = url
    return result
