"""`az aitk inference key rotate`: replace one of the endpoint's two API keys.

The server accepts both keys (the secrets api-key and api-key-secondary; docs/contracts.md), so
clients never see a refused request: rotate the key they do not use, move them to it, then
rotate the other one. A secret change reaches a running revision only at a restart or in a new
revision (https://learn.microsoft.com/azure/container-apps/manage-secrets), so rotate restarts
the active revision(s) that serve and waits until the endpoint accepts the new key.

A rotation either completes (the new key in force and served) or leaves the old state, and says
which: the new secret goes in with the tag ROTATION_TAG naming the key (one request); a restart
Azure refuses puts the old secret back; a server that does not take the new key in time leaves
the tag, and the next `key rotate` completes that rotation (restart, wait) instead of making
another key; the tag is emptied once the server accepts the key."""

from knack.log import get_logger

from ..azure import container_app, model_server
from ..core import api_key, next_steps, options
from ..core.errors import KeyRotationError, KeyRotationFailedError, ReplicaStartError
from ._config import app_url, load_config
from ._startup_watch import StartupWatch, utc_now

logger = get_logger(__name__)

ROTATION_TAG = "aitk-key-rotation"  # the key whose rotation is not finished ("" when none)


def has_secondary_env(app_json):
    """True when the app's container reads the secondary key (apps provisioned before it do not)."""
    for c in ((app_json.get("properties") or {}).get("template") or {}).get("containers") or []:
        if any(e.get("name") == api_key.SECONDARY_ENV for e in c.get("env") or []):
            return True
    return False


def pending_rotation(app_json):
    """The key ("primary"/"secondary") whose rotation an earlier run left unfinished, else None."""
    value = (app_json.get("tags") or {}).get(ROTATION_TAG) or ""
    return value if value in api_key.SECRET_NAMES else None


def inference_key_rotate(cmd, workspace=None, *, key=api_key.SECONDARY, show_key=False, no_wait=False, timeout=None):
    ws, cfg = load_config(cmd, workspace)
    aca = container_app.ContainerApp.from_config(cmd.cli_ctx, cfg)
    app_json = aca.get_json()
    if not has_secondary_env(app_json):
        raise KeyRotationError(
            f"container app '{cfg.app_name}' was provisioned before aitk had a secondary key, so it "
            "serves one key only and rotating it would cut every client off",
            "Run `az aitk inference provision` again (it keeps the key and adds the secondary), then "
            "`az aitk inference deploy`, then rotate.",
        )
    pending = pending_rotation(app_json)
    if pending and pending != key:
        raise KeyRotationError(
            f"the rotation of the {pending} key of '{cfg.app_name}' has not finished (the server may not accept "
            f"its new value yet); nothing was changed",
            f"Run `az aitk inference key rotate --key {pending}` to finish it (it makes no new key), "
            f"then rotate the {key} key.",
        )
    other = api_key.PRIMARY if key == api_key.SECONDARY else api_key.SECONDARY
    tags = dict(app_json.get("tags") or {})
    since = utc_now()
    new_key, old_secrets = _set_new_key(aca, cfg, key, other=other, tags=tags, pending=pending)
    try:
        revisions = aca.restart_serving()
    except Exception as e:  # pylint: disable=broad-except  # whatever Azure said, the old state comes back
        if pending:
            raise
        _undo(aca, old_secrets, tags, key, e)
    if revisions:
        logger.warning(
            "Restarted %s so the server takes the new key (Azure applies secrets then).", ", ".join(revisions)
        )
    else:
        logger.warning("No revision is active yet: the first replica to start takes the new key.")
    result = {"app": cfg.app_name, "rotated": key, "unchanged": other, "revision": ", ".join(revisions) or None}
    result.update({"ready": None, "rotation": "pending"})
    if not no_wait:
        url = app_url(ws, cfg, aca.get())
        logger.warning("Waiting until the endpoint accepts the new key (a replica reloads the model first)…")
        _wait_new_key(
            cmd, cfg, aca, url, new_key=new_key, key=key, timeout=timeout or options.KEY_ROTATE_TIMEOUT_S, since=since
        )
        aca.update_tags({**tags, ROTATION_TAG: ""})
        result.update({"ready": True, "rotation": "complete"})
        logger.warning("The %s key is rotated: the endpoint accepts the new key.", key)
    else:
        logger.warning(
            "Not waiting: `az aitk inference key rotate --key %s` again waits for the server to take the new key "
            "(it makes no new key while this rotation is unfinished).",
            key,
        )
    if show_key:
        result["apiKey" if key == api_key.PRIMARY else "secondaryApiKey"] = new_key
    for line in next_steps.after(f"key rotate {key}", workspace):
        logger.warning(line)
    return result


def _set_new_key(aca, cfg, key, *, other, tags, pending):
    """(the new key, the secrets to put back if the restart is refused): a new key set on the app
    with the pending-rotation tag, in one request; or, for a pending rotation, the key it set."""
    if pending:
        logger.warning(
            "An earlier `key rotate` replaced the %s key of '%s' but did not see the server take it: finishing "
            "that rotation (no new key is made).",
            key,
            cfg.app_name,
        )
        return api_key.keys_from_secrets(aca.secrets())[key], None
    secret_list = aca.secrets()
    current = api_key.keys_from_secrets(secret_list)[key]
    new_key = api_key.generate()
    aca.update_secrets(api_key.rotated_secrets(secret_list, key, new_key), tags={**tags, ROTATION_TAG: key})
    logger.warning("Replaced the %s key of '%s'; the %s key is unchanged.", key, cfg.app_name, other)
    return new_key, (api_key.rotated_secrets(secret_list, key, current) if current else None)


def _undo(aca, old_secrets, tags, key, error):
    """Azure refused the restart: put the old secret back, so the old key stays the one in force."""
    try:
        if old_secrets is None:
            raise ValueError("the app had no such key before")
        aca.update_secrets(old_secrets, tags={**tags, ROTATION_TAG: ""})
    except Exception:  # pylint: disable=broad-except
        raise KeyRotationFailedError(
            f"the {key} key was replaced on the app, but the restart failed ({_one_line(error)}) and the old "
            "key could not be put back",
            f"Run `az aitk inference key rotate --key {key}` again: it finishes this rotation (no new key).",
        ) from None
    raise KeyRotationFailedError(
        f"the {key} key was not rotated: the restart failed ({_one_line(error)}); the old key is back and still works",
        "`az aitk inference status` shows the app's revisions; run key rotate again once it serves.",
    ) from None


def _wait_new_key(cmd, cfg, aca, url, *, new_key, key, timeout, since):
    """Until the endpoint accepts the new key; a start-up failure the system log shows ends the
    wait at once. Either way the rotation stays pending, and says how to finish it."""
    watch = StartupWatch(cmd, cfg, aca, since)
    why = None
    try:
        model_server.wait_ready(url, new_key, [], timeout, tick=lambda _msg: watch.check())
        return
    except model_server.ServerError as e:
        why = str(e)
    except ReplicaStartError as e:  # the watch: the replica failed to start
        why = str(e)
    raise KeyRotationFailedError(
        f"the {key} key was replaced on the app and its revision restarted, but the endpoint does not accept "
        f"the new key yet: {why}",
        f"Run `az aitk inference key rotate --key {key}` again to finish this rotation (it makes no new key); "
        "`az aitk inference endpoint --show-key` shows the new key, `az aitk inference status` why it is not served.",
    )


def _one_line(error):
    return " ".join(str(getattr(error, "message", None) or error).split())[:300]
