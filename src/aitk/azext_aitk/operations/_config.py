"""Shared by the commands that work on a provisioned endpoint: the workspace, its config, and the
one subscription a command works in."""

import dataclasses

from knack.log import get_logger

from .._exception_handler import config_in_use
from ..azure import container_app
from ..core import workspace as ws_mod
from ..core.endpoint import endpoint_url
from ..core.init import aitk_originals
from ..core.provision import target

logger = get_logger(__name__)


def use_subscription(cmd, subscription, source):
    """The one subscription id the command works in, resolved once: --subscription when given
    (az puts it in cli_ctx.data), else `subscription` as the config file `source` names it, else
    az's current one. Every id and client of the command takes it explicitly; az's own code
    (its deployment commands) reads cli_ctx.data, which holds the same id. A subscription the
    signed-in account cannot see is one line naming where it came from."""
    from azure.cli.core._profile import Profile
    from azure.cli.core.commands.client_factory import get_subscription_id
    from knack.util import CLIError

    flag = cmd.cli_ctx.data.get("subscription_id")
    chosen, named_by = (flag, None) if flag else (subscription, source)
    try:
        # az's get_subscription_id returns what cli_ctx.data holds unchecked; the profile knows
        # which subscriptions the signed-in account sees (an id or a name, as --subscription takes)
        resolved = Profile(cli_ctx=cmd.cli_ctx).get_subscription(chosen)["id"] if chosen else None
    except CLIError as e:
        if "not found" in str(e).lower():
            raise target.subscription_not_visible(chosen, named_by) from None
        raise
    if resolved:
        cmd.cli_ctx.data["subscription_id"] = resolved
    resolved = get_subscription_id(cmd.cli_ctx)  # az's current one when nothing names one
    if flag and subscription and str(subscription).lower() not in (resolved.lower(), str(flag).lower()):
        logger.warning(
            "--subscription %s: working there, not in the subscription %s names (%s).", flag, source, subscription
        )
    return resolved


def load_config(cmd, workspace):
    """(Workspace, InferenceConfig) of the workspace folder; the config's subscription is the one
    the command works in (use_subscription: --subscription wins, for every call alike)."""
    ws = ws_mod.open_workspace(workspace)
    aitk_originals.check_migrated(ws)
    cfg = ws.inference_config()
    config_in_use["path"] = str(ws.inference_config_file)
    subscription = use_subscription(cmd, cfg.subscription_id, ws_mod.INFERENCE_CONFIG_FILE)
    if subscription != cfg.subscription_id:
        cfg = dataclasses.replace(cfg, subscription_id=subscription)
    return ws, cfg


def app_url(ws, cfg, app):
    """The URL the API key may be sent to: the app's own ingress over HTTPS, checked against the
    config's ACA_APP_ENDPOINT (core/endpoint/endpoint_url.py)."""
    return endpoint_url.app_url(container_app.fqdn(app), cfg.app_endpoint, str(ws.inference_config_file), cfg.app_name)
