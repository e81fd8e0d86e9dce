"""`deploy --adapter`: the launcher's own start-up checks on each adapter folder, against the base
model the server serves, before anything is uploaded.

The launcher checks every adapter when a replica starts and when a name is first asked for
(aitk_serve.cli.check_adapters, resolver.py); one it refuses is left out and never served. Deploy
runs the same code (aitk_serve.cli.check_for_deploy) on the local folders first, so an adapter the
server would leave out is refused in one line naming it and the reason, with nothing uploaded:
adapter_config.json that is not JSON or not a LoRA config vLLM serves; weights that are not a whole
safetensors file (a header whose offsets do not cover the file exactly: cut short, or with bytes
after the last tensor), or that hold infinite or NaN values; a name with control characters; and,
against the base model, a tensor for a layer, module or shape the base lacks (an adapter trained
for another base model).

The base model is on the share (model-cache/...), usually many GiB: deploy reads only its
config.json, its weight index and each shard's safetensors header, by byte ranges
(azure/file_share.read_model), and builds from them what the launcher builds from the local folder
(aitk_serve.adapters.model_info): layer count, vocabulary, and the (out, in) shape of every linear
module. That is everything the adapter checks compare with; the base's weight values are not read
(the launcher does not read them either before vLLM loads them). When the base is not on the share
(serve.json names a Hugging Face id, or no single model is under model-cache/), the adapters are
checked on their own, as the launcher checks them then, and deploy says so.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from aitk_serve import LaunchError, cli, layout, serve_config
from aitk_serve.adapters import AdapterInfo, ModelInfo, check_unique_names, model_info

from ..errors import AdapterSpecError


def _line(error: Exception) -> str:
    return " ".join(str(error).split())


class Base(NamedTuple):
    """The base model the adapters are checked against, as the launcher will see it."""

    ref: str | None  # the model as serve.json or discovery names it (a share path or a hub id)
    served_name: str | None  # the name the API serves it under
    info: ModelInfo | None  # None: not on the share (a hub id, or none found)


def wanted_model(serve: Mapping[str, Any] | None) -> str | None:
    """The share folder (relative to the share's root) serve.json names as the model, or None when
    it names none (then the launcher takes the one model under model-cache/). A path under the
    mount (/mount/...) is the same share folder."""
    model = (serve or {}).get(serve_config.MODEL)
    if not isinstance(model, str) or not model.strip():
        return None
    model = model.strip()
    prefix = layout.MOUNT_PATH.rstrip("/") + "/"
    return model[len(prefix) :] if model.startswith(prefix) else model


def base(serve: Mapping[str, Any] | None, ref: str | None, found: tuple[dict, list[dict]] | None, where: str) -> Base:
    """The Base for the model `ref` whose (config, safetensors headers) were read from the share
    (`found`; None when it is not there). AdapterSpecError when the launcher would refuse the base
    itself (then no replica could start, whatever the adapters)."""
    named = (serve or {}).get(serve_config.SERVED_MODEL_NAME)
    served = named if isinstance(named, str) and named else (ref.rstrip("/").rsplit("/", 1)[-1] if ref else None)
    if found is None:
        return Base(ref, served, None)
    config, per_file = found  # one safetensors header per weight file (aitk_serve.fit.read_headers)
    headers = {k: meta for header in per_file for k, meta in header.items() if k != "__metadata__"}
    try:
        info = model_info(ref or where, config, headers, where)
    except LaunchError as e:
        raise AdapterSpecError(
            f"{where}: {_line(e)}",
            recommendation="Fix the base model's folder on the share (the server cannot start with it); "
            "nothing was uploaded.",
        ) from None
    return Base(ref, served, info)


def unreadable_here(adapter_dirs: Mapping[str, Path]) -> list[str]:
    """Adapters whose weights are only a legacy pickle (adapter_model.bin), which the launcher reads
    with torch: az's own Python has none, so deploy cannot check them (the server does, at load)."""
    import importlib.util

    if importlib.util.find_spec("torch") is not None:
        return []
    return sorted(n for n, p in adapter_dirs.items() if not (Path(p) / layout.ADAPTER_WEIGHT_FILES[0]).is_file())


def check(adapter_dirs: Mapping[str, Path], model: Base) -> list[AdapterInfo]:
    """The launcher's checks on every adapter folder against `model` (but those unreadable_here);
    AdapterSpecError naming the first adapter that fails and why."""
    skip = set(unreadable_here(adapter_dirs))
    folders = {name: str(path) for name, path in adapter_dirs.items() if name not in skip}
    against = f" (checked against the base model {model.ref})" if model.info is not None else ""
    infos: list[AdapterInfo] = []
    try:
        check_unique_names(folders.items(), base_name=model.served_name)
        for name, folder in folders.items():
            try:
                infos += cli.check_for_deploy({name: folder}, model.info, model.ref, model.served_name)
            except LaunchError as e:
                named = f"adapter {name!r}"
                raise LaunchError(_line(e) if named in str(e) else f"{named}: {_line(e)}") from None
    except LaunchError as e:
        raise AdapterSpecError(
            f"--adapter: {_line(e)}{against}",
            recommendation="The server would leave this adapter out; fix or retrain it and deploy again. "
            "Nothing was uploaded.",
        ) from None
    return infos
