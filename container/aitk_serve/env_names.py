"""Every environment variable the launcher reads or sets, in one place (as vLLM keeps its own in
vllm/envs.py). The modules that use one import its name from here; docs/contracts.md ("Launcher
inputs") says what each means to a user. Stdlib only: the az extension imports it too.
"""

# Set by the container app (the template, docs/contracts.md "Template") or by a user.
MOUNT_ENV = "AITK_MOUNT"  # where the share is mounted (layout.MOUNT_PATH unless set)
DEFAULT_API_KEY_ENV = "AITK_API_KEY"  # the API key (secretRef api-key); --api-key-env names another
# The second key (secretRef api-key-secondary): both work, so `key rotate` can replace one while
# clients use the other; --secondary-api-key-env names another.
DEFAULT_SECONDARY_API_KEY_ENV = "AITK_API_KEY_SECONDARY"
PORT_ENV = "AITK_PORT"  # --port's default (a runtime that picks ports, like the stand-in, sets it)
HOST_ENV = "AITK_HOST"  # --host's default
CONFIG_ENV = "AITK_CONFIG"  # --config's default: the serve.json to read
MODEL_ENV = "AITK_MODEL"  # --model's default
ADAPTERS_ENV = "AITK_ADAPTERS"  # --adapter's default: NAME=PATH,NAME=PATH

# Set by the launcher for the vLLM server process it starts (vllm_args.build), read there.
VLLM_API_KEY_ENV = "VLLM_API_KEY"  # vLLM's own (vllm/envs.py): the primary key
SECONDARY_API_KEY_ENV = "AITK_SERVE_SECONDARY_API_KEY"  # the second key: api_server and the key gate
# The keys an --api-key after `--` gave (a JSON list): the launcher takes them off vLLM's command line
# (where `ps` shows them) and they replace the two above, as vLLM's --api-key replaces VLLM_API_KEY.
ARG_API_KEYS_ENV = "AITK_SERVE_ARG_API_KEYS"
SHARE_ADAPTERS_ENV = "AITK_SHARE_ADAPTERS"  # the share resolver's settings (resolver.Settings, JSON)
RUNTIME_LORA_ENV = "VLLM_ALLOW_RUNTIME_LORA_UPDATING"  # vLLM's own: enables /v1/load_lora_adapter
CPU_KVCACHE_ENV = "VLLM_CPU_KVCACHE_SPACE"  # vLLM's own: the KV cache size on CPU (GiB)
STARTED_AT_ENV = "AITK_SERVE_STARTED_AT"  # the launcher's start, seconds since the epoch (startup_timeline)
WEIGHTS_ENV = "AITK_SERVE_WEIGHTS"  # JSON: what the weights mark says (bytes, load format, source)
# The start the launcher hands its supervisor (vllm_start: JSON of the vLLM command, the user's
# --max-model-len, the expected context), so that the supervisor's command line holds nothing typed.
START_ENV = "AITK_SERVE_START"
SERVING_ENV = "AITK_SERVE_SERVING"  # JSON: the release and serve.json the server runs (serving_state)
HEAD_TIMEOUT_ENV = "AITK_SERVE_HEAD_TIMEOUT"  # seconds a client may take to send a request's head; tests shorten it

# Set by an operator on the container app.
CONCURRENCY_ENV = "AITK_STREAMER_CONCURRENCY"  # the weights streamer's concurrency override, 1-256
# Weights in Blob (blob_weights.py): the Run:ai streamer's Azure part's own settings
# (runai_model_streamer_azure.credentials), and azure-identity's choice of credential chain, which the
# launcher sets to "prod" (environment, workload identity, managed identity) unless it is set.
STORAGE_ACCOUNT_ENV = "AZURE_STORAGE_ACCOUNT_NAME"
STORAGE_CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
TOKEN_CREDENTIALS_ENV = "AZURE_TOKEN_CREDENTIALS"
