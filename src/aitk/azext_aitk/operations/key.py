"""`az aitk inference key rotate`: replace one of the endpoint's two API keys.

The server accepts both keys (the secrets api-key and api-key-secondary; docs/contracts.md), so
clients never see a refused request: rotate the key they do not use, move them to it, then
rotate the other one. A secret change reaches a running revision only at a restart or in a new
revision (https://learn.microsoft.com/azure/container-apps/manage-secrets), so rotate restarts
the active revision and waits until the endpoint accepts the new key."""

# pylint: disable=too-many-positional-arguments  # made keyword-only after the issue 22 merge
from knack.log import get_logger

from ..azure import container_app, model_server
from ..core import api_key, next_steps
from ._config import app_url, load_config

logger = get_logger(__name__)

DEFAULT_TIMEOUT = 1800  # seconds: a restarted replica loads the model again


def has_secondary_env(app_json):
    """True when the app's container reads the secondary key (apps provisioned before it do not)."""
    for c in ((app_json.get("properties") or {}).get("template") or {}).get("containers") or []:
        if any(e.get("name") == api_key.SECONDARY_ENV for e in c.get("env") or []):
            return True
    return False


def inference_key_rotate(cmd, workspace=None, key=api_key.SECONDARY, show_key=False, no_wait=False, timeout=None):
    # pylint: disable=too-many-arguments
    if timeout is not None and timeout <= 0:  # before the key changes: not a rotation that then fails to wait
        from azure.cli.core.azclierror import InvalidArgumentValueError

        raise InvalidArgumentValueError(f"--timeout must be a positive number of seconds, not {timeout}")
    ws, cfg = load_config(cmd, workspace)
    aca = container_app.ContainerApp.from_config(cmd.cli_ctx, cfg)
    app_json = aca.get_json()
    if not has_secondary_env(app_json):
        from azure.cli.core.azclierror import ValidationError

        raise ValidationError(
            f"container app '{cfg.app_name}' was provisioned before aitk had a secondary key, so it "
            "serves one key only and rotating it would cut every client off",
            "Run `az aitk inference provision` again (it keeps the key and adds the secondary), then "
            "`az aitk inference deploy`, then rotate.",
        )
    other = api_key.PRIMARY if key == api_key.SECONDARY else api_key.SECONDARY
    new_key = api_key.generate()
    aca.update_secrets(api_key.rotated_secrets(aca.secrets(), key, new_key))
    props = aca.get_json().get("properties") or {}
    revision = props.get("latestReadyRevisionName") or props.get("latestRevisionName")
    logger.warning("Replaced the %s key of '%s'; the %s key is unchanged.", key, cfg.app_name, other)
    result = {"app": cfg.app_name, "rotated": key, "unchanged": other, "revision": revision, "ready": None}
    if revision:
        logger.warning("Restarting revision %s so the server takes the new key (Azure applies secrets then)", revision)
        aca.restart_revision(revision)
    if not no_wait:
        url = app_url(ws, cfg, aca.get())
        logger.warning("Waiting until the endpoint accepts the new key (a replica reloads the model first)…")
        try:
            model_server.wait_ready(url, new_key, [], timeout or DEFAULT_TIMEOUT)
            result["ready"] = True
        except model_server.ServerError as e:
            logger.warning(
                "The endpoint did not answer with the new key yet (%s); `az aitk inference status` shows why.", e
            )
            result["ready"] = False
    if show_key:
        result["apiKey" if key == api_key.PRIMARY else "secondaryApiKey"] = new_key
    for line in next_steps.after(f"key rotate {key}", workspace):
        logger.warning(line)
    return result
