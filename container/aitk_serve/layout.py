"""The share layout: where things live on the Azure Files share mounted in the container.

Single source of truth for the launcher (which reads the share) and the az extension (which
writes it). Stdlib only: this module runs inside the serving image and inside the az process.
Paths are POSIX, relative to the share root unless they say otherwise.
"""

# Where the container app mounts the share (the template sets AITK_MOUNT to the same value).
MOUNT_PATH = "/mount"

# Left by AI Toolkit fine-tuning (never written by aitk).
MODEL_CACHE_DIR = "model-cache"  # model-cache/<org>/<model>/ : Hugging Face model folders
FINETUNED_MODELS_DIR = "models"  # models/.../adapter/ : peft adapters
# The AI Toolkit's fine-tuning settings, uploaded with the workspace (the job runs
# `cd /mount; python3 ./finetuning/invoke_olive.py`); its training_args.output_dir is where the
# intermediate checkpoints go, "models/checkpoints" unless the user changed it (the "Checkpoint
# output dir" default in the templates' setup/project-settings.json).
FINETUNING_CONFIG_FILE = "finetuning/olive-config.json"
DEFAULT_CHECKPOINT_DIR = FINETUNED_MODELS_DIR + "/checkpoints"

# Owned by `az aitk inference deploy`: the only prefixes it writes, and prunes with --delete.
AITK_DIR = "aitk"
LAUNCHER_DIR = AITK_DIR + "/launcher"  # the aitk_serve package; on PYTHONPATH in the container
INFERENCE_DIR = AITK_DIR + "/inference"  # copy of the workspace's inference/ folder
ADAPTERS_DIR = AITK_DIR + "/adapters"  # adapters/<NAME>/ pushed with deploy --adapter NAME=PATH
OWNED_PREFIXES = (LAUNCHER_DIR, INFERENCE_DIR, ADAPTERS_DIR)

# The launcher on the share is versioned, so a deploy cut short never leaves a half-written package
# where the server imports it: each release goes to releases/<id>/aitk_serve/ (id: a hash of its
# files); `current` names the release to run and is written only once the release is complete;
# aitk_serve/__init__.py (the package PYTHONPATH finds) is the small stable entry (share_entry.py)
# that reads `current` and points the package at that release.
LAUNCHER_PACKAGE = "aitk_serve"
LAUNCHER_RELEASES_DIR = LAUNCHER_DIR + "/releases"
LAUNCHER_CURRENT_FILE = LAUNCHER_DIR + "/current"
LAUNCHER_ENTRY_FILE = LAUNCHER_DIR + "/" + LAUNCHER_PACKAGE + "/__init__.py"

# The launcher settings file deploy ships inside INFERENCE_DIR.
SERVE_CONFIG_FILE = INFERENCE_DIR + "/serve.json"

# peft adapter files.
ADAPTER_CONFIG_FILE = "adapter_config.json"
ADAPTER_WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")


def adapter_dir(name: str) -> str:
    """Share-relative folder of an adapter pushed by deploy under NAME."""
    return f"{ADAPTERS_DIR}/{name}"


def launcher_release_dir(release: str) -> str:
    """Share-relative folder holding release `release` of the launcher package."""
    return f"{LAUNCHER_RELEASES_DIR}/{release}/{LAUNCHER_PACKAGE}"


def is_owned(path: str) -> bool:
    """True when a share-relative path lies under a prefix deploy owns."""
    path = path.strip("/")
    return any(path == p or path.startswith(p + "/") for p in OWNED_PREFIXES)
