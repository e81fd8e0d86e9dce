"""`az aitk inference deploy`: sync to the share, restart when the server must re-read it, wait
until serving, then check one request naming each adapter it pushed."""

import importlib.util
import os
import threading
from pathlib import Path
from typing import Any, NamedTuple

from aitk_serve import LaunchError, layout
from knack.log import get_logger

from ..azure import container_app, file_share, model_server, storage_account
from ..core import names as naming
from ..core import next_steps, options
from ..core import workspace as ws_mod
from ..core.deploy import (
    adapter_checks,
    adapter_specs,
    deploy_rollout,
    launcher_release,
    serve_adapters,
    serve_file,
    share_names,
    sync_manifest,
    sync_plan,
)
from ..core.errors import EndpointNotReadyError, MissingLauncherError
from ._config import app_url, load_config
from ._startup_watch import StartupWatch, utc_now

logger = get_logger(__name__)

RESTART_GRACE = 5.0  # seconds to let a restarted revision stop answering before waiting for it


def launcher_dir():
    spec = importlib.util.find_spec("aitk_serve")
    if spec is None or not spec.origin:
        raise MissingLauncherError("the aitk_serve launcher package is missing; reinstall the extension")
    return Path(spec.origin).resolve().parent


def collect_local(ws, adapter_dirs):
    """({share path: LocalFile with sha256}, [roots]); every share path checked against Azure
    Files' naming rules before anything is written."""
    local, roots = {}, []
    if ws.inference_dir.is_dir():
        local.update(sync_plan.scan_local(ws.inference_dir, layout.INFERENCE_DIR, warn=logger.warning))
        roots.append(layout.INFERENCE_DIR)
    else:
        logger.warning(
            "No %s/ folder in the workspace (run `az aitk inference init`); the launcher "
            "finds the model on the share by itself.",
            ws_mod.INFERENCE_DIR,
        )
    package = sync_plan.with_hashes(sync_plan.scan_tree(launcher_dir(), warn=logger.warning))
    local.update(launcher_release.files(package).files)
    roots.append(layout.LAUNCHER_DIR)
    for name, folder in adapter_dirs.items():
        local.update(sync_plan.scan_local(folder, layout.adapter_dir(name), warn=logger.warning))
        roots.append(layout.adapter_dir(name))
    local = sync_plan.with_hashes(local)
    _add_pushed_adapters(ws, local, adapter_dirs)
    share_names.check((path, f.source or path) for path, f in local.items())
    sync_plan.check_case_collisions(local)
    return local, roots


def _add_pushed_adapters(ws, local, adapter_dirs):
    """A serve.json that lists adapters gets the pushed ones in its uploaded copy
    (core/deploy/serve_adapters.py)."""
    entry = local.get(layout.SERVE_CONFIG_FILE)
    if entry is None or not adapter_dirs:
        return
    serve = serve_file.read(ws)
    extra = serve_adapters.added(serve, adapter_dirs, str(ws.serve_file))
    if extra:
        local[layout.SERVE_CONFIG_FILE] = sync_plan.from_bytes(
            layout.SERVE_CONFIG_FILE, serve_adapters.merged_text(serve, extra)
        )
        logger.warning(
            "%s lists adapters: the uploaded copy adds %s (add them to the workspace's file to keep them "
            "listed by deploys without --adapter; the server finds them on the share by name either way).",
            ws_mod.SERVE_FILE,
            ", ".join(f'"{n}": "{p}"' for n, p in extra.items()),
        )


def inference_deploy(cmd, workspace=None, *, adapters=None, delete=False, no_wait=False, timeout=None, verify=False):
    # pylint: disable=too-many-locals
    from .._client_factory import cf_share

    # The workspace's own files first: what the launcher would refuse at start-up is refused before
    # anything is uploaded, and before az is asked for the account (no sign-in needed to hear it).
    serve_file.check(ws_mod.open_workspace(workspace))
    adapter_dirs = adapter_specs.parse_all(adapters, base_dir=os.getcwd())
    ws, cfg = load_config(cmd, workspace)
    local, roots = collect_local(ws, adapter_dirs)

    aca = container_app.ContainerApp.from_config(cmd.cli_ctx, cfg)
    app = aca.get()
    url = app_url(ws, cfg, app)
    key = aca.api_key()
    endpoint, account_key = storage_account.file_access(
        cmd.cli_ctx, cfg.subscription_id, cfg.resource_group, cfg.storage_account
    )
    share = cf_share(cmd.cli_ctx, endpoint, cfg.file_share, cfg.storage_account, account_key)
    if adapter_dirs:  # the launcher's own checks, against the base on the share, before any upload
        _check_adapters_locally(ws, share, adapter_dirs)
    # One deploy at a time per share, for the whole run (core/deploy/deploy_lock.py).
    run = _Run(cmd, cfg, aca, app, url, key, share, workspace)
    with file_share.DeployLease(share, f"{cfg.storage_account}/{cfg.file_share}", warn=logger.warning):
        return _deploy(run, local, roots, adapter_dirs, delete=delete, no_wait=no_wait, timeout=timeout, verify=verify)


def _check_adapters_locally(ws, share, adapter_dirs):
    """Refuse (AdapterSpecError) an adapter the server would leave out, checked against the base
    model as the launcher finds it: serve.json's model, else the one model under model-cache/
    (core/deploy/adapter_checks.py); only its config.json and weight headers are read."""
    serve = serve_file.read(ws)
    ref = adapter_checks.wanted_model(serve)
    if ref is None:
        found = file_share.find_models(share, layout.MODEL_CACHE_DIR)
        ref = found[0] if len(found) == 1 else None
    model = None
    if ref is not None:
        try:
            model = file_share.read_model(share, ref)
        except LaunchError as e:
            from ..core.errors import AdapterSpecError

            raise AdapterSpecError(
                f"the share's {ref}: {e}", "Fix the base model's folder on the share; nothing was uploaded."
            ) from None
    base = adapter_checks.base(serve, ref, model, f"the share's {ref}")
    if base.info is None:
        logger.warning(
            "Adapters checked without a base model (%s): their shapes are checked when the server loads them.",
            f"{ref} is not a model folder on the share" if ref else f"no single model under {layout.MODEL_CACHE_DIR}/",
        )
    for name in adapter_checks.unreadable_here(adapter_dirs):
        logger.warning("Adapter %s has only adapter_model.bin, which needs torch to read: the server checks it.", name)
    for info in adapter_checks.check(adapter_dirs, base):
        for line in info.warnings:
            logger.warning(line)


class _Run(NamedTuple):
    """What one deploy talks to, read before it takes the share's lease."""

    cmd: Any
    cfg: Any
    aca: Any
    app: Any  # the app's SDK model
    url: str
    key: str | None
    share: Any
    workspace: str | None


def _deploy(run, local, roots, adapter_dirs, *, delete, no_wait, timeout, verify):
    # pylint: disable=too-many-locals
    cmd, cfg, aca, app, url, key, share, workspace = run
    manifest = file_share.read_manifest(share)
    remote, existing_dirs, etags = file_share.list_remote(share, roots, manifest, verify=verify)
    plan = sync_plan.plan(local, remote, roots, delete=delete)

    total = sum(f.size for f in plan.upload)
    logger.warning(
        "Share %s/%s: %d file(s) to upload (%s), %d unchanged%s, %d to delete",
        cfg.storage_account,
        cfg.file_share,
        len(plan.upload),
        _size(total),
        len(plan.skip),
        " (content re-hashed)" if verify else "",
        len(plan.delete),
    )
    uploaded = _upload(cmd, share, plan, total, existing_dirs) if plan.upload else {}
    if plan.delete:
        file_share.delete(share, plan.delete)
    _record(share, manifest, roots, remote, etags=etags, plan=plan, uploaded=uploaded)

    since = utc_now()  # failures the system log shows from here on are this deploy's
    changed = [f.path for f in plan.upload] + [r.path for r in plan.delete]
    expected = deploy_rollout.expected_serving(local, remote, [r.path for r in plan.delete])
    rollout = deploy_rollout.decide(changed, adapter_dirs, container_app.max_replicas(app), remote)
    action = rollout.action
    app_json = aca.get_json()
    if action != deploy_rollout.RESTART:
        # nothing uploaded needs a restart, but the running server may still be behind the share
        # (a deploy cut short between its upload and its restart): ask it
        behind = _server_behind(aca, app_json, url, key, expected)
        if behind:
            logger.warning("The running server %s: restarting it so it serves what the share holds.", behind)
            action = deploy_rollout.RESTART
    if action == deploy_rollout.HOT_LOAD and not (
        model_server.health(url, timeout=5.0) and _hot_load(url, key, rollout.adapters)
    ):
        action = deploy_rollout.RESTART
    if action == deploy_rollout.RESTART:
        if _restart(aca, app_json) and not no_wait:
            model_server.wait_down(url, grace=RESTART_GRACE)

    result = {
        "endpoint": url,
        "uploaded": len(plan.upload),
        "unchanged": len(plan.skip),
        "deleted": len(plan.delete),
        "bytesUploaded": total,
        "action": action,
    }
    if no_wait:
        result["ready"] = None
        logger.warning(
            "Not waiting for the endpoint: `az aitk inference wait --ready` waits until it serves, "
            "`az aitk inference status` shows why its replica did not start."
        )
        return result
    result["ready"] = True
    watch = StartupWatch(cmd, cfg, aca, since)
    result["models"] = _wait_ready(
        cmd,
        cfg,
        url,
        key,
        expected=sorted(adapter_dirs),
        timeout=timeout or options.DEPLOY_TIMEOUT_S,
        check_failed=watch.check,
    )
    result["serving"] = _settle(
        cmd,
        cfg,
        aca,
        url,
        key,
        expected=expected,
        timeout=timeout or options.DEPLOY_TIMEOUT_S,
        check_failed=watch.check,
    )
    result["checked"] = _check_adapters(url, cfg, key, rollout.adapters)
    for line in next_steps.after("deploy", workspace):
        logger.warning(line)
    return result


def _server_behind(aca, app_json, url, key, expected):
    """What the running server lacks of the share (deploy_rollout.serving_behind), or None when
    it serves what the share holds, or no replica runs (the next one to start reads the share)."""
    try:
        revisions = aca.serving_revisions(app_json)
        if not revisions or not aca.has_running_replica(revisions):
            return None
    except Exception:  # pylint: disable=broad-except  # only a shortcut: without it, no restart is forced
        logger.debug("could not read the app's replicas", exc_info=True)
        return None
    return deploy_rollout.serving_behind(expected, model_server.serving(url, key))


def _settle(cmd, cfg, aca, url, key, *, expected, timeout, check_failed):
    """Once the endpoint serves: the server must run what the share holds; one more restart when
    it does not (a replica that started before the upload finished), then say what it runs."""
    reported = model_server.serving(url, key)
    behind = deploy_rollout.serving_behind(expected, reported)
    if behind:
        logger.warning("The server %s: restarting it once more.", behind)
        if _restart(aca, aca.get_json()):
            model_server.wait_down(url, grace=RESTART_GRACE)
        _wait_ready(cmd, cfg, url, key, expected=[], timeout=timeout, check_failed=check_failed)
        reported = model_server.serving(url, key)
        behind = deploy_rollout.serving_behind(expected, reported)
        if behind:
            logger.warning(
                "The server still %s; does the app set AITK_CONFIG or run another launcher? "
                "`az aitk inference status` shows what it serves.",
                behind,
            )
    return reported


def _check_adapters(url, cfg, key, names):
    """One request through the endpoint naming each adapter this deploy changed: the replica that
    gets it loads the adapter from the share (or refuses it with the server's reason)."""
    for name in names:
        ok, detail = model_server.check_model(url, key, name)
        if not ok:
            raise EndpointNotReadyError(
                f"the endpoint did not serve adapter {name}: {detail}",
                f"The files are on the share under {layout.adapter_dir(name)}/; fix the adapter and "
                "run deploy again (only changed files are uploaded), or see the app's logs: "
                f"`az containerapp logs show -n {cfg.app_name} -g {cfg.resource_group} --type console --tail 100`.",
            )
        logger.warning("Adapter %s answers through the endpoint", name)
    return list(names)


def _upload(cmd, share, plan, total, existing_dirs):
    file_share.ensure_dirs(share, [f.path for f in plan.upload], existing_dirs)
    controller = cmd.cli_ctx.get_progress_controller(det=True)
    lock = threading.Lock()

    def report(done, tot):
        with lock:  # az's progress view is not thread-safe
            controller.add(message="Uploading", value=min(done, tot), total_val=max(tot, 1))

    progress = file_share.Progress(total, report)
    first, last = launcher_release.upload_order(plan.upload)
    try:
        etags = file_share.upload(share, first, progress)
        etags.update(file_share.upload(share, last, progress, workers=1))  # `current`, then the entry
    finally:
        controller.end()
    by_path = {f.path: f for f in plan.upload}
    return {path: (by_path[path].size, by_path[path].sha256, etag) for path, etag in etags.items()}


def _record(share, manifest, roots, remote, *, etags, plan, uploaded):
    """Write the deploy manifest when it changed, so the next deploy needs no metadata request for
    files that stay as they are (core/deploy/sync_manifest.py). Best effort: without it, the next deploy
    reads each file's metadata, as it would without a manifest."""
    new = sync_manifest.updated(
        manifest, roots, remote, etags=etags, uploaded=uploaded, deleted=[r.path for r in plan.delete]
    )
    if new == manifest:
        return
    try:
        file_share.write_manifest(share, new)
    except Exception as e:  # pylint: disable=broad-except  # the files are deployed; only the shortcut is lost
        logger.info("could not write %s: %s", sync_manifest.MANIFEST_PATH, e)


def _wait_ready(cmd, cfg, url, key, *, expected, timeout, check_failed):
    import time

    logger.warning(
        "Waiting for the endpoint to serve (up to %d s; a replica loads the model first). "
        "`az aitk inference logs --follow` shows the server starting.",
        timeout,
    )
    started = time.monotonic()
    controller = cmd.cli_ctx.get_progress_controller()
    controller.begin(message="Waiting for the endpoint")

    def tick(msg):
        controller.add(message=f"Waiting for the endpoint, {time.monotonic() - started:.0f} s: {msg}")
        check_failed()  # raises as soon as the system log shows the replica failed: no long wait

    try:
        models = model_server.wait_ready(url, key, expected, timeout, tick=tick, poll_timeout=5.0)
    except model_server.ServerError as e:
        raise EndpointNotReadyError(
            f"the endpoint {url} was not ready within {timeout} s: {e}",
            "See what the server says: `az aitk inference logs` (what `"
            + naming.command("az", "containerapp", "logs", "show", "-n", cfg.app_name, "-g", cfg.resource_group)
            + " --type console --tail 100` shows) and `az aitk inference status`; a large model can take a "
            "while to load: run deploy again (nothing is uploaded twice) with a longer --timeout.",
        ) from None
    finally:
        controller.end()
    logger.warning("Serving after %.0f s.", time.monotonic() - started)
    return models


def _size(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    return str(n)


def _hot_load(url, key, names):
    try:
        current = set(model_server.list_models(url, key))
    except model_server.ServerError:
        return False
    for name in names:
        if name in current:
            ok, detail = model_server.unload_adapter(url, key, name)
            if not ok:
                logger.info("unload of %s failed (%s)", name, detail)
                return False
        ok, detail = model_server.load_adapter(url, key, name, layout.adapter_dir(name))
        if not ok:
            logger.warning("The server did not hot-load adapter %s (%s); restarting instead.", name, detail)
            return False
        logger.warning("Hot-loaded adapter %s", name)
    return True


def _restart(aca, app_json):
    """Restart the revision(s) that serve; False when the app has none yet."""
    if not aca.restart_serving(app_json):
        logger.warning("The app has no active revision to restart yet; it starts with the new files.")
        return False
    return True
