"""Weights in Blob (issue 18): a base model given as `az://container/path` (--model, AITK_MODEL or
serve.json) is read by vLLM's `--load-format runai_streamer` through the Run:ai Model Streamer's Azure
part (runai-model-streamer-azure), with the app's managed identity (no key in the app). Before vLLM
loads anything, the launcher checks the folder in Blob and refuses, in one line naming the cause and
the fix, when the server would start on partial weights or not at all:

- the streamer's Azure part missing from the image (vLLM's image installs `runai-model-streamer[s3,gcs]`
  only: its docker/Dockerfile at the pinned tag);
- no account (AZURE_STORAGE_ACCOUNT_NAME, which the streamer's C++ and Python clients both read);
- the identity without a data role: Blob answers 403 AuthorizationPermissionMismatch to a principal
  that holds no Storage Blob Data role
  (https://learn.microsoft.com/azure/storage/blobs/authorize-access-azure-active-directory);
- no blobs, or no config.json, under the path;
- a blob whose server-side copy has not succeeded: x-ms-copy-status pending, aborted or failed
  (https://learn.microsoft.com/rest/api/storageservices/get-blob-properties#response-headers);
- a safetensors shard shorter or longer than its own header says (8 bytes of header length, the JSON
  header, then the tensors' data: https://github.com/huggingface/safetensors#format), or one the
  index (model.safetensors.index.json) names that is not there.

The launcher imports no Azure SDK itself (the tier rule, tests/unit/test_import_rules.py): it lists
and reads through the client of the streamer's Azure part, the one vLLM lists and pulls with, and
reads that client's errors by their fields.

Which credentials: the same chain the streamer uses (runai_model_streamer_azure's client: a
connection string, a SAS or an account key if one is set, else DefaultAzureCredential); the launcher
sets AZURE_TOKEN_CREDENTIALS=prod (read by azure-identity, Python and C++) unless the operator set
it, so the chain is environment, workload identity and managed identity only, never a developer
sign-in. On Container Apps the managed identity answers on IDENTITY_ENDPOINT/IDENTITY_HEADER.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import LaunchError
from .env_names import STORAGE_ACCOUNT_ENV as ACCOUNT_ENV
from .env_names import STORAGE_CONNECTION_STRING_ENV
from .env_names import TOKEN_CREDENTIALS_ENV as CREDENTIALS_ENV

SCHEME = "az://"
AZURE_PART = "runai_model_streamer_azure"
ROLE = "Storage Blob Data Reader"
NOT_DONE = ("pending", "aborted", "failed")


def is_blob_uri(model: str) -> bool:
    return model.lower().startswith(SCHEME)


def split(uri: str) -> tuple[str, str]:
    container, _, prefix = uri[len(SCHEME) :].partition("/")
    return container, prefix.strip("/")


@dataclass(frozen=True)
class Checked:
    files: int
    bytes: int
    note: str


def azure_part_installed() -> bool:
    try:
        return importlib.util.find_spec(AZURE_PART) is not None
    except (ImportError, ValueError):
        return False


def env_updates(env: Mapping[str, str]) -> dict[str, str]:
    return {} if env.get(CREDENTIALS_ENV) else {CREDENTIALS_ENV: "prod"}


def _client() -> Any:
    import os

    os.environ.update(env_updates(os.environ))  # this process's own check uses the chain vLLM will
    from runai_model_streamer_azure.files.files import _create_client  # pylint: disable=import-error

    # azure-identity logs a failed chain as a warning of many lines (after the package's import has
    # set the level from AZURE_LOG_LEVEL); the refusal is the one line here.
    logging.getLogger("azure").setLevel(logging.ERROR)
    return _create_client()


def _safetensors_size(blob: Any, size: int) -> int | None:
    """The size a safetensors file must have by its own header, or None when it has no readable header."""
    if size < 8:
        return None
    head = blob.download_blob(offset=0, length=8).readall()
    (n,) = struct.unpack("<Q", head)
    if n <= 0 or 8 + n > size or n > 100 * 2**20:
        return None
    try:
        header = json.loads(blob.download_blob(offset=8, length=n).readall())
    except ValueError:
        return None
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)]
    return 8 + n + max(ends, default=0)


def _explain(e: Exception) -> str:
    """One line for an error of the Azure SDK under the streamer's client, read by its documented fields
    (azure.core.exceptions: HttpResponseError.status_code/.error_code; ServiceRequestError; the
    credential's ClientAuthenticationError) without importing the SDK here."""
    status, code = getattr(e, "status_code", None), getattr(e, "error_code", None)
    first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
    if status == 404:
        return f"no such container ({code or 404}): create it and copy the model there"
    if status == 403:
        return (
            f"access denied ({code or 403}): grant the app's managed identity the {ROLE} role on the storage "
            "account or container (a new role takes up to 10 minutes to apply)"
        )
    no_token = status is None and ("Authentication" in type(e).__name__ or "Credential" in type(e).__name__)
    if status == 401 or no_token:
        return (
            f"no token for Azure Storage ({first}): give the app a managed identity "
            "(or set the storage credentials the streamer reads)"
        )
    if status is not None:
        return f"Blob answered {status} {code or ''}".rstrip()
    return f"cannot reach Blob storage ({type(e).__name__}: {first})"


def check(uri: str, env: Mapping[str, str], client_factory: Callable[[], Any] = _client) -> Checked:
    """The folder at `uri` is complete and readable with this identity; else LaunchError."""
    container, prefix = split(uri)
    if not container or not prefix:
        raise LaunchError(f"model {uri}: give az://CONTAINER/FOLDER, the Blob folder that holds config.json")
    if not azure_part_installed():
        raise LaunchError(
            f"model {uri}: weights in Blob need the Run:ai Model Streamer's Azure part, which this image "
            f"lacks ({AZURE_PART} is not importable); install runai-model-streamer-azure at the version "
            f"of runai-model-streamer, or serve the model from the share"
        )
    if not env.get(ACCOUNT_ENV) and not env.get(STORAGE_CONNECTION_STRING_ENV):
        raise LaunchError(f"model {uri}: no storage account: set {ACCOUNT_ENV} to the account that holds the container")
    where = f"{uri} (account {env.get(ACCOUNT_ENV) or 'of the connection string'})"
    try:
        cc = client_factory().get_container_client(container)
        blobs = [b for b in cc.list_blobs(name_starts_with=prefix + "/", include=["copy"]) if not b.name.endswith("/")]
        by_name = {b.name[len(prefix) + 1 :]: b for b in blobs}
        if not by_name:
            raise LaunchError(
                f"model {where}: no blobs under the path: copy the model's folder there "
                f"(config.json and its .safetensors), or serve it from the share"
            )
        if "config.json" not in by_name:
            raise LaunchError(f"model {where}: no config.json under the path: copy the model's whole folder there")
        for name, b in sorted(by_name.items()):
            status = getattr(b.copy, "status", None) if b.copy else None
            if status in NOT_DONE:
                raise LaunchError(
                    f"model {where}: blob {name} is a copy that is {status}, not finished: "
                    f"copy it again (the server does not start on partial weights)"
                )
        index = by_name.get("model.safetensors.index.json")
        if index is not None:
            shards = set(json.loads(cc.get_blob_client(index.name).download_blob().readall())["weight_map"].values())
            missing = sorted(s for s in shards if s not in by_name)
            if missing:
                raise LaunchError(
                    f"model {where}: the index names {', '.join(missing)}, which is not there: copy the model's "
                    f"whole folder (the server does not start on partial weights)"
                )
        names = [n for n in by_name if n.endswith(".safetensors")]
        if not names:
            raise LaunchError(f"model {where}: no .safetensors under the path (the streamer reads safetensors only)")
        for name in sorted(names):
            b = by_name[name]
            want = _safetensors_size(cc.get_blob_client(b.name), b.size)
            if want != b.size:
                says = "no readable header" if want is None else f"its header says {want} bytes"
                raise LaunchError(
                    f"model {where}: blob {name} is {b.size} bytes and {says}: a partial copy; copy it again "
                    f"(the server does not start on partial weights)"
                )
    except LaunchError:
        raise
    except Exception as e:  # pylint: disable=broad-exception-caught  # the SDK's errors, read by their fields
        raise LaunchError(f"model {where}: {_explain(e)}") from None
    total = sum(b.size for b in by_name.values())
    return Checked(
        len(by_name),
        total,
        f"weights: {len(by_name)} files, {total / 1e6:.1f} MB in Blob {uri}, complete (checked before vLLM loads)",
    )
