"""The schema of serve.json, the launcher settings file deploy ships in aitk/inference/.

Single source of truth for the launcher (which reads it) and the az extension (whose `init`
writes the default one). Stdlib only.
"""

# Every key serve.json may carry; all are optional (docs/contracts.md "serve.json").
MODEL = "model"  # base model: a folder on the share or a hub id
SERVED_MODEL_NAME = "served_model_name"
ADAPTERS = "adapters"  # {NAME: PATH}; null leaves them to discovery
VLLM_ARGS = "vllm_args"  # extra vLLM arguments, a list of strings
KEYS = (MODEL, SERVED_MODEL_NAME, ADAPTERS, VLLM_ARGS)

# What `az aitk inference init` writes: everything left to the launcher's discovery
# (adapters null, not {}: an empty mapping would turn discovery off).
DEFAULT: dict[str, object] = {MODEL: None, SERVED_MODEL_NAME: None, ADAPTERS: None, VLLM_ARGS: []}
