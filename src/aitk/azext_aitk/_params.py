# pylint: disable=line-too-long
from knack.arguments import CLIArgumentType

from azext_aitk.core import gpu_profiles, options
from azext_aitk.core.endpoint import bench_plan, wake
from azext_aitk.core.monitor import console_log
from azext_aitk.core.provision import image_registry, profile_fit, provision_plan, replicas


def load_arguments(self, _):
    from azure.cli.core.commands.parameters import get_enum_type, get_location_type

    workspace_type = CLIArgumentType(
        options_list=["--workspace"],
        help="The workspace folder (holds infra/ and inference/). Default: the current directory.",
    )
    no_wait_type = CLIArgumentType(options_list=["--no-wait"], action="store_true")
    wake_wait_type = CLIArgumentType(
        options_list=["--wait"],
        type=int,
        help="Seconds to wait for a scaled-to-zero endpoint to start (each request that the ingress "
        f"ends after {wake.INGRESS_IDLE_TIMEOUT_S} s with nothing sent is retried); 0: do not wait. "
        f"Default: {wake.DEFAULT_WAIT_S}.",
    )

    with self.argument_context("aitk inference") as c:
        c.argument("workspace", workspace_type)

    with self.argument_context("aitk inference init") as c:
        c.argument(
            "force",
            action="store_true",
            help="Reset the workspace files to the shipped ones; a file you changed is kept "
            "beside it as `<name>.bak-<time>`.",
        )

    with self.argument_context("aitk inference provision") as c:
        c.argument(
            "resource_group_name",
            options_list=["--resource-group", "-g"],
            help="Resource group to deploy into. Default: RESOURCE_GROUP_NAME of the workspace's "
            "infra/inference.config.json, else of infra/finetuning.config.json, else `az config set "
            "defaults.group=…` (provision says which). Created when missing and --location is given.",
        )
        c.argument(
            "location",
            get_location_type(self.cli_ctx),
            help="Region for new resources (and for the resource group, when provision creates it). "
            "Default: the resource group's region. Serverless "
            "GPUs exist only in some regions (e.g. westus3, swedencentral, australiaeast).",
        )
        c.argument(
            "parameters",
            options_list=["--parameters", "-p"],
            action="append",
            nargs="+",
            help="Template parameters on top of infra/provision/inference.parameters.json, in "
            "az's forms: name=value, @file.json (ARM parameters file) or a JSON object. "
            "Repeatable; later values win.",
        )
        c.argument(
            "gpu_profile",
            arg_type=get_enum_type(gpu_profiles.names()),
            help="GPU workload profile: T4 or A100 (serverless, billed per replica, scale to "
            "zero) or NC24-A100 / NC48-A100 / NC96-A100 (dedicated, billed per node). "
            "Default: the cheapest that fits the base model (T4 when the model fits it with at "
            f"least {profile_fit.T4_MIN_CONTEXT:,} tokens of context, else A100), or the profile the "
            f"app already uses; {gpu_profiles.DEFAULT_PROFILE} when no model can be read. A profile "
            "the model cannot fit is refused before anything is deployed.",
        )
        c.argument(
            "model",
            options_list=["--model"],
            help="The base model to fit the GPU profile to: a local Hugging Face folder, or a "
            "folder on the share (e.g. `model-cache/<org>/<model>`). Only config.json and the "
            "safetensors headers are read. Default: inference/serve.json's model, else the one "
            "model under model-cache/ on the share.",
        )
        c.argument(
            "min_replicas",
            type=int,
            help=f"Fewest replicas, 0-{replicas.MIN_REPLICAS_LIMIT}. Default: {provision_plan.DEFAULT_MIN_REPLICAS}, "
            "so an idle endpoint costs nothing "
            "(the first request after idling waits for a replica to start and load the model). Above 0, "
            "provision shows the always-on cost per hour and asks (--yes skips the question).",
        )
        c.argument(
            "max_replicas",
            type=int,
            help=f"Most replicas (GPU instances), {replicas.MAX_REPLICAS_FLOOR}-{replicas.MAX_REPLICAS_LIMIT}. "
            f"Default: maximumInstanceCount of the parameters file, else {provision_plan.DEFAULT_MAX_REPLICAS}.",
        )
        c.argument(
            "scale_concurrency",
            options_list=["--scale-concurrency"],
            type=int,
            help="The HTTP scale rule's concurrentRequests: the requests per second one replica carries (Azure "
            "counts the requests of each 15 s window / 15 and adds a replica above it, up to --max-replicas). "
            "Default: scaleConcurrentRequests of the parameters, else an estimate from the model, the GPU profile "
            "and a request of 512 prompt + 256 output tokens (docs/serving.md, 'Scale-out'); "
            "`az aitk inference bench --apply-scale-rule` sets the measured one.",
        )
        c.argument("image", help="Serving image. Default: the stock vLLM image (the launcher comes from the share).")
        c.argument(
            "image_registry",
            options_list=["--image-registry"],
            help="Name of your Azure Container Registry (5-50 letters and digits; an existing one of the "
            "subscription is reused in its own resource group, else it is created in the endpoint's resource "
            "group and region, Basic tier): the image is imported into it "
            "server-side (no Docker needed) and the app pulls it from there with a managed identity "
            "(AcrPull), not from Docker Hub.",
        )
        c.argument(
            "image_streaming",
            options_list=["--image-streaming"],
            action="store_true",
            help="With --image-registry: a Premium registry, for ACR artifact streaming of the imported image "
            "(the ACA serverless GPU docs name it as a cold-start lever; Linux AMD64 images only). A new "
            f"registry is created {image_registry.STREAMING_SKU} (${image_registry.daily_price('Premium')}/day "
            f"instead of Basic's ${image_registry.daily_price('Basic')}/day: provision shows it "
            "and asks, --yes answers); an existing one below Premium is refused in one line. After the import "
            "provision has the registry generate the image's streaming artifact and convert new imports.",
        )
        c.argument(
            "what_if",
            action="store_true",
            help="Show the GPU plan (profile, dtype, context, GPU memory split) and what the "
            "deployment would change (az's what-if); deploy nothing.",
        )
        c.argument(
            "no_wait",
            no_wait_type,
            help="Start the deployment and return; run provision again (a no-op) when it "
            "finished, to write infra/inference.config.json.",
        )
        c.argument(
            "yes",
            options_list=["--yes", "-y"],
            action="store_true",
            help="Do not ask: accept the always-on cost of --min-replicas above 0, the daily cost of a Premium "
            "registry (--image-streaming), and a start command, image "
            "or template the workspace changes from what aitk ships (provision shows them either way).",
        )

    with self.argument_context("aitk inference adapter remove") as c:
        c.argument(
            "name",
            options_list=["--name", "-n"],
            help="The adapter's name: the NAME of the `deploy --adapter NAME=PATH` that pushed it.",
        )

    with self.argument_context("aitk inference deploy") as c:
        c.argument(
            "adapters",
            options_list=["--adapter"],
            action="append",
            help="A LoRA adapter to push, as NAME=PATH (a local peft folder). Repeatable. "
            "It is served under NAME, from aitk/adapters/NAME on the share.",
        )
        c.argument(
            "delete",
            action="store_true",
            help="Also delete files on the share that are gone locally, only under the "
            "folders this deploy writes (aitk/launcher, aitk/inference, "
            "aitk/adapters/NAME).",
        )
        c.argument("no_wait", no_wait_type, help="Do not wait for the endpoint to be ready.")
        c.argument(
            "timeout",
            type=int,
            help="Seconds to wait for the endpoint to answer and list the models. "
            f"Default: {options.DEPLOY_TIMEOUT_S}.",
        )
        c.argument(
            "verify",
            action="store_true",
            help="Read back and hash every file deploy put on the share instead of trusting the size and "
            "SHA-256 it recorded in their metadata; a file whose bytes changed there is uploaded again.",
        )

    _load_day_two_arguments(self, no_wait_type, wake_wait_type)
    _load_compare_and_bench_arguments(self)


def _load_day_two_arguments(self, no_wait_type, wake_wait_type):
    """endpoint, key rotate, chat, delete, logs, wait: what a user runs once the endpoint exists."""
    from azure.cli.core.commands.parameters import get_enum_type

    with self.argument_context("aitk inference endpoint") as c:
        c.argument(
            "show_key",
            action="store_true",
            help="Also show both API keys (apiKey, secondaryApiKey; read from the container app's secrets) "
            "and a curl with the primary one.",
        )
        c.argument("wait", wake_wait_type)

    with self.argument_context("aitk inference key rotate") as c:
        c.argument(
            "key",
            options_list=["--key"],
            arg_type=get_enum_type(["primary", "secondary"]),
            help="Which key to replace; the other keeps working. Default: secondary.",
        )
        c.argument(
            "show_key", action="store_true", help="Also show the new key (apiKey or secondaryApiKey) in the output."
        )
        c.argument("no_wait", no_wait_type, help="Do not wait for the endpoint to accept the new key.")
        c.argument(
            "timeout",
            type=int,
            help=f"Seconds to wait for the endpoint to accept the new key. Default: {options.KEY_ROTATE_TIMEOUT_S}.",
        )

    with self.argument_context("aitk inference chat") as c:
        c.argument(
            "model",
            options_list=["--model", "-m"],
            help="Model name: the base model or an adapter the endpoint serves. Default: the "
            "base (the first model /v1/models lists).",
        )
        c.argument("system", options_list=["--system"], help="A system message that starts the conversation.")
        c.argument(
            "temperature",
            type=float,
            help="Sampling temperature, 0 to 2. Default: the server's (the model's generation config).",
        )
        c.argument(
            "max_tokens", type=int, help="Most tokens of each reply. Default: the server's (up to the context length)."
        )
        c.argument(
            "message",
            options_list=["--message"],
            help="Send this one message, print only the reply and exit (for scripts). "
            "Without it the chat is interactive.",
        )
        c.argument("wait", wake_wait_type)

    with self.argument_context("aitk inference delete") as c:
        c.argument("yes", options_list=["--yes", "-y"], action="store_true", help="Do not ask for confirmation.")
        c.argument(
            "no_wait",
            no_wait_type,
            help="Wait only for the container app to go (its environment cannot go before "
            "it); start deleting the rest and return.",
        )
        c.argument(
            "purge_share_files",
            action="store_true",
            help="Also remove what deploy put on the share: aitk/launcher, aitk/inference and "
            "aitk/adapters (nothing else there). Without it they stay, so a new provision and "
            "deploy pick up where you left off.",
        )

    with self.argument_context("aitk inference logs") as c:
        c.argument("follow", action="store_true", help="Keep streaming new lines until Ctrl-C.")
        c.argument(
            "tail",
            type=int,
            help=f"How many past lines to show first, 0 to {console_log.MAX_TAIL}. "
            f"Default: {console_log.DEFAULT_TAIL}.",
        )
        c.argument(
            "show_all",
            options_list=["--all"],
            action="store_true",
            help="Also show the health probes' access lines (`GET /health … 200`), hidden by default.",
        )
        c.argument(
            "log_type",
            options_list=["--type"],
            arg_type=get_enum_type(["console", "system"]),
            help="console: the container's output (when no replica runs, the last terminated "
            "replica's from Log Analytics); system: the replica's events (scheduled, image pulled, "
            "started, probe failed, exited with code, scaled in/out). Default: console.",
        )
        c.argument("revision", help="The revision to read. Default: the app's latest.")
        c.argument(
            "timeline",
            action="store_true",
            help="Print the last start as a timeline instead: each phase (scheduling, image pull, "
            "container start, discovery and fit, engine start, weights, KV cache, compile and graphs, "
            "server start) with its seconds, from the system log's events and the launcher's phase lines.",
        )

    with self.argument_context("aitk inference wait") as c:
        c.argument(
            "ready",
            action="store_true",
            help="Wait until the endpoint serves: the app is provisioned, /health answers (this "
            "starts a scaled-to-zero app) and /v1/models lists a model.",
        )
        c.argument("deleted", action="store_true", help="Wait until the container app is gone.")
        c.argument("timeout", type=int, help=f"Most seconds to wait. Default: {options.WAIT_TIMEOUT_S}.")
        c.argument("interval", type=int, help=f"Seconds between checks. Default: {options.WAIT_INTERVAL_S}.")


def _load_compare_and_bench_arguments(self):
    with self.argument_context("aitk inference compare") as c:
        c.argument(
            "prompts",
            options_list=["--prompts"],
            help="The prompts file: one prompt per line (plain text), or JSONL, each line a JSON list of chat "
            'messages ([{"role": "user", "content": "..."}]) or an object with a "messages" list.',
        )
        c.argument(
            "models",
            options_list=["--models"],
            nargs="+",
            help="The adapters to set beside the base model (space-separated). "
            "Default: every model the endpoint lists.",
        )
        c.argument("max_tokens", type=int, help=f"Most tokens of each answer. Default: {options.COMPARE_MAX_TOKENS}.")
        c.argument(
            "temperature",
            type=float,
            help="Sampling temperature, 0 to 2. Default: 0 (greedy: the same answers every run).",
        )
        c.argument(
            "report",
            options_list=["--report"],
            help="Also write a self-contained HTML page (FILE.html): the answers side by side with the "
            "tokens and latency of each.",
        )

    with self.argument_context("aitk inference bench") as c:
        c.argument(
            "concurrency",
            options_list=["--concurrency"],
            nargs="+",
            type=int,
            help=f"Concurrency levels to sweep, each 1 to {bench_plan.MAX_CONCURRENCY} (space-separated). "
            f"Default: {' '.join(map(str, bench_plan.DEFAULT_CONCURRENCY))}.",
        )
        c.argument(
            "requests",
            options_list=["--requests"],
            type=int,
            help="Requests at each level. Default: 4 x the level, at least 8 "
            f"(at most {bench_plan.MAX_REQUESTS} in all).",
        )
        c.argument(
            "prompt_tokens",
            type=int,
            help=f"About how many tokens each prompt has. Default: {options.BENCH_PROMPT_TOKENS} "
            "(the server's count is reported).",
        )
        c.argument(
            "output_tokens",
            type=int,
            help="Tokens each answer generates (the end-of-text token is ignored). "
            f"Default: {options.BENCH_OUTPUT_TOKENS}.",
        )
        c.argument(
            "max_seconds",
            type=float,
            help="Start no request after this many seconds (running ones get 30 s to finish). "
            f"Default: {bench_plan.DEFAULT_MAX_SECONDS:.0f}.",
        )
        c.argument(
            "model",
            options_list=["--model", "-m"],
            help="The model to load: the base model or an adapter. Default: the base.",
        )
        c.argument(
            "price_per_hour",
            type=float,
            help="US dollars an hour of one replica, for the cost per million output tokens. Default: the "
            "dated list price of the app's GPU profile (none for the dedicated profiles).",
        )
        c.argument(
            "apply_scale_rule",
            options_list=["--apply-scale-rule"],
            action="store_true",
            help="Set the app's HTTP scale rule (concurrentRequests) to the rule value bench measured: the "
            "requests per second one replica carried. The app gets a new revision (its replicas restart).",
        )
