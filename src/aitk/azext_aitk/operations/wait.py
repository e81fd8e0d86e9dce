"""`az aitk inference wait`: block until the endpoint serves (--ready) or its app is gone
(--deleted), as az's `wait` commands do after a `--no-wait` (az group wait, az resource wait):
nothing is printed on success, a timeout is an error."""

import time

from knack.log import get_logger

from ..azure import container_app, model_server
from ..core import options
from ..core.errors import EndpointNotReadyError, WakeError
from ._config import app_url, load_config
from ._startup_watch import failure_probe
from ._wake import StartupFailedError, wake_endpoint

logger = get_logger(__name__)


def inference_wait(cmd, *, workspace=None, ready=False, deleted=False, timeout=None, interval=None):
    # _validators.validate_wait checked the flags (core/options.py): exactly one of --ready and
    # --deleted, so what follows the --deleted branch is the --ready wait
    del ready
    timeout = timeout or options.WAIT_TIMEOUT_S
    interval = interval or options.WAIT_INTERVAL_S
    ws, cfg = load_config(cmd, workspace)
    aca = container_app.ContainerApp.from_config(cmd.cli_ctx, cfg)
    deadline = time.monotonic() + timeout
    if deleted:
        while aca.find_json() is not None:
            if time.monotonic() >= deadline:
                raise _not_there(f"waited {timeout} s: container app '{cfg.app_name}' still exists")
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
        return None
    failed = failure_probe(cmd.cli_ctx, aca)  # a start-up failure from now on ends the wait at once
    while True:  # --ready: the app's deployment finished, /health answers, /v1/models lists a model
        app = aca.get_json()
        state = (app.get("properties") or {}).get("provisioningState")
        if state in ("Failed", "Canceled"):
            raise _not_there(f"the container app's provisioning state is {state}")
        left = int(deadline - time.monotonic())
        if state == "Succeeded" and left > 0:
            url = app_url(ws, cfg, app)  # the key goes only to the app's own https ingress
            try:
                wake_endpoint(url, min(left, options.MAX_WAIT_S), failed=failed)
                if model_server.list_models(url, aca.api_key(), timeout=min(30.0, max(1.0, left))):
                    return None
            except StartupFailedError:
                raise
            except (WakeError, model_server.ServerError) as e:
                logger.info("not ready yet: %s", e)
        if time.monotonic() >= deadline:
            raise _not_there(f"waited {timeout} s: {cfg.app_name} does not serve yet")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


def _not_there(why):
    return EndpointNotReadyError(
        why,
        "`az aitk inference status` shows the app's state and last start-up error; run wait again "
        "with a longer --timeout.",
    )
