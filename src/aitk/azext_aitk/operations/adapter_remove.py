"""`az aitk inference adapter remove --name NAME`: delete one adapter deploy pushed
(aitk/adapters/NAME/ on the share) and its entries in deploy's manifest; nothing else is touched.

Replicas serving it keep their checked copy until they restart (docs/serving.md, "Checked
copies"); a replica that starts later does not serve it, and a request naming it then gets 404.
"""

from aitk_serve import layout
from knack.log import get_logger

from ..azure import file_share, storage_account
from ..azure.not_found import is_not_found
from ..core.deploy import adapter_specs, sync_manifest
from ..core.errors import AdapterSpecError
from ._config import load_config

logger = get_logger(__name__)


def inference_adapter_remove(cmd, name, workspace=None):
    from .._client_factory import cf_share

    if not adapter_specs.NAME_RE.match(name or ""):
        raise AdapterSpecError(
            f"--name {name!r} is not an adapter name deploy gives: letters, digits, '.', '_' and '-' "
            "(up to 64, starting with a letter or digit)",
            recommendation="Pass the NAME of a `deploy --adapter NAME=PATH`; `az aitk inference endpoint` lists them.",
        )
    _, cfg = load_config(cmd, workspace)
    endpoint, account_key = storage_account.file_access(cmd.cli_ctx, cfg.resource_group, cfg.storage_account)
    share = cf_share(cmd.cli_ctx, endpoint, cfg.file_share, cfg.storage_account, account_key)
    root = layout.adapter_dir(name)
    files, folders = file_share.walk(share, [root])
    if not files and not folders:
        raise AdapterSpecError(
            f"no adapter {name!r} on share {cfg.storage_account}/{cfg.file_share} (nothing under {root}/)",
            recommendation="`az aitk inference endpoint` lists the served models; only adapters pushed with "
            "`deploy --adapter NAME=PATH` can be removed this way.",
        )
    file_share.delete(share, [sync_manifest.Listed(path, 0, None) for path in files])
    for folder in sorted({*folders, root}, key=len, reverse=True):  # children before their parents
        try:
            share.get_directory_client(folder).delete_directory()
        except Exception as e:  # pylint: disable=broad-except
            if not is_not_found(e):
                raise
    manifest = file_share.read_manifest(share)
    kept = {p: e for p, e in manifest.items() if p != root and not p.startswith(root + "/")}
    if kept != manifest:
        file_share.write_manifest(share, kept)
    logger.warning(
        "Removed adapter %s from the share (%d file(s)). Replicas that loaded it serve it until they restart; "
        "new replicas do not.",
        name,
        len(files),
    )
    return {"removed": name, "files": len(files), "share": f"{cfg.storage_account}/{cfg.file_share}"}
