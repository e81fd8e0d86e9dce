# pylint: disable=line-too-long
# Example lines stay under 72 characters so az's help never wraps them: they must paste as is.
from knack.help_files import helps

helps["aitk"] = """
type: group
short-summary: AI Toolkit on Azure from the terminal.
long-summary: Serve a LoRA fine-tuned LLM from an Azure Files share on Azure Container Apps with vLLM.
"""

helps["aitk inference"] = """
type: group
short-summary: Provision, deploy and call an OpenAI-compatible endpoint for a fine-tuned model.
long-summary: >-
    Run these in your workspace folder (an AI Toolkit fine-tuning project, or any folder), in this
    order: init writes the template, its parameters file and inference/serve.json where missing;
    provision creates the Azure resources and writes infra/inference.config.json; deploy pushes
    the launcher, the inference/ folder and your adapters to the share and (re)starts serving;
    endpoint shows the URL, the model names and, with --show-key, the API key and a ready-to-paste
    curl. Each command says on stderr what to run next; --only-show-errors hides that, and the
    command's output (JSON by default) holds its results.
examples:
  - name: The whole flow in a fine-tuning workspace (defaults come from infra/finetuning.config.json).
    text: |
        az aitk inference init
        az aitk inference provision
        az aitk inference deploy
        az aitk inference endpoint --show-key
"""

helps["aitk inference init"] = """
type: command
short-summary: Write the workspace files that are missing.
long-summary: >-
    Writes infra/provision/inference.bicep (the template; edit it if you like),
    infra/provision/inference.parameters.json (its ARM parameters file; null means the default:
    the fine-tuning resource of the same role when infra/finetuning.config.json names one) and
    inference/serve.json (what the launcher serves; deploy copies the inference/ folder to the
    share). A file that exists is never overwritten; --force resets it and keeps the old one as
    `<name>.bak-<time>`. The AI Toolkit's own inference files (its Gradio template and parameters,
    recognised by their content) are migrated: the template replaced by aitk's, the parameters
    and config keeping every value you set, each original kept beside it as `<name>.bak-<time>`.
examples:
  - name: Write the missing files in the current folder (migrating the AI Toolkit's originals).
    text: az aitk inference init
  - name: Reset the workspace files (the old ones are kept as backups).
    text: az aitk inference init --force
"""

helps["aitk inference provision"] = """
type: command
short-summary: Create or update the Azure resources that serve the model; write infra/inference.config.json.
long-summary: >-
    Deploys infra/provision/inference.bicep into the resource group with az's own deployment
    code (the shipped ARM JSON twin when the Bicep is unchanged, so no Bicep CLI is needed; your
    edited Bicep otherwise): a storage account and file share (reused when they exist, such as the
    fine-tuning share that holds your model), Log Analytics, a Container Apps environment with a
    GPU workload profile, and the container app (vLLM, the share at /mount, HTTPS ingress, API
    key). The API key is made on the first run and kept only as the app's secret. Running it
    again with nothing changed changes nothing. The resource group (and its subscription) comes
    from -g, else from the workspace's own infra/inference.config.json (what an earlier provision
    made), else from infra/finetuning.config.json, else from `az config set defaults.group`; it
    says on stderr which one it used.
    The GPU profile is fitted to the base model first: its config.json and safetensors headers
    are read (from the share by byte ranges, or from a local folder with --model; the weights
    are never downloaded) and the launcher's memory model picks the serverless T4 when the model
    fits it with at least 4,096 tokens of context, else the cheapest profile that fits (A100).
    A --gpu-profile the model cannot fit is refused before anything is deployed, naming the one
    that would fit and its list price. The region is checked too: a location that does not
    exist or does not offer the profile is refused, listing the regions that do.
    A resource group that does not exist is created when
    --location (or the parameters file's location) is given, after that location is checked.
    Every check runs before anything is created or changed: the parameters against the
    template's names and types, replica counts against Azure Container Apps' limits, a storage
    account of another resource group, and that infra/inference.config.json can be written. A
    --min-replicas above 0 shows what the idle replicas cost per hour and asks; so does a start
    command, image or template the workspace's files change from what aitk ships (--yes answers
    yes; without a terminal provision stops in one line). Each resource is reported as it
    completes, with the elapsed time and the deployment's portal link.
    In a fine-tuning workspace the app runs in fine-tuning's Container Apps environment (the one
    its job runs in) and logs to its Log Analytics workspace; the chosen serverless GPU profile is
    added to that environment when it lacks one. Dedicated GPU profiles cannot be added to an
    existing environment: pick the one it has (fine-tuning's NC24-A100 profile) or name a new
    environment with `--parameters acaEnvironmentName=<name>`. --what-if lists what is reused.
    An environment of fine-tuning's job in another resource group is not served from: provision
    says so in one warning and makes its own in the app's group.
    --image-registry NAME pulls the image from your own Azure Container Registry in the same
    region instead of Docker Hub (Docker Hub's limits on anonymous pulls then apply only to the one
    import, which is anonymous too; a `toomanyrequests` refusal says to retry later): the registry is created in the
    resource group when it does not exist (Basic tier; an existing one of the subscription is
    reused in whichever resource group it is, its AcrPull role assigned there), the pinned vLLM
    image is imported into it server-side as `az acr import` does (no Docker needed, works in
    Cloud Shell; skipped when the tag is there), and the app pulls it with a user-assigned
    managed identity that holds AcrPull on the registry (no admin user, no password). A later
    provision keeps pulling from that registry (--image picks another image); delete removes a
    registry provision created and keeps one you had.
    The HTTP scale rule (more replicas up to --max-replicas) is set from what one replica carries:
    Azure adds a replica when the requests of a 15 s window / 15 exceed concurrentRequests, and
    provision estimates that rate from the model, the GPU profile and a request of 512 prompt + 256
    output tokens (one line says the value and why; --scale-concurrency sets your own, and
    `az aitk inference bench --apply-scale-rule` the measured one).
examples:
  - name: Provision into a resource group (the GPU profile fitted to the model on the share).
    text: az aitk inference provision -g my-rg
  - name: Show the GPU plan for a local model folder (profile, dtype, context, memory split).
    text: az aitk inference provision -g my-rg --model ./Phi-3-mini-4k-instruct --what-if
  - name: Create the resource group too, if it does not exist.
    text: az aitk inference provision -g my-rg -l swedencentral
  - name: Serverless A100 in another region, at most 2 replicas.
    text: |
        az aitk inference provision -g my-rg -l swedencentral \\
          --gpu-profile A100 --max-replicas 2
  - name: Show what would change; deploy nothing.
    text: az aitk inference provision -g my-rg --what-if
  - name: Pull the image from your own container registry (created if missing), with a managed identity.
    text: az aitk inference provision -g my-rg --image-registry myaitkregistry
  - name: In a fine-tuning workspace, see what runs on fine-tuning's dedicated A100 profile.
    text: az aitk inference provision --gpu-profile NC24-A100 --what-if
  - name: Override template parameters (az's forms).
    text: |
        az aitk inference provision -g my-rg \\
          --parameters acaAppName=my-llm @extra.parameters.json
  - name: Keep one replica warm (billed while idle; --yes accepts the cost provision shows).
    text: az aitk inference provision -g my-rg --min-replicas 1 --yes
  - name: Up to 2 replicas, a second one from 2 requests a second on; show the plan only.
    text: az aitk inference provision -g my-rg --max-replicas 2 --scale-concurrency 2 --what-if
"""

helps["aitk inference deploy"] = """
type: command
short-summary: Push the launcher, inference/ and adapters to the share, then (re)start serving.
long-summary: >-
    Uploads only what changed (size and SHA-256 are kept as file metadata on the share), files in
    parallel and large files in parallel ranges, under aitk/launcher/, aitk/inference/ and
    aitk/adapters/NAME/ on the share; nothing else there is touched (the base model and the
    fine-tuning outputs stay as they are). A new adapter needs no restart at any replica count:
    every replica loads an adapter from the share on the first request that names it. An adapter
    whose files were replaced is reloaded on a single replica and restarts the revision on more,
    so that none answers with the old weights once deploy returns (each replica also re-checks a
    replaced adapter on the next request naming it); a changed launcher or inference/ folder restarts
    it. Then it waits until /health answers and /v1/models lists the models, sends one request
    naming each adapter it pushed (the server's reason when it refuses) and prints the endpoint.
    Reads infra/inference.config.json (run provision first). Each --adapter folder first gets the
    launcher's own checks, against the base model on the share (its config.json and weight
    headers): an adapter the server would leave out (config not JSON, trained for another base,
    NaN/Inf or cut-short weights) is refused, naming it and why. Nothing is written when a file would
    not fit the share: a link out of its folder, a name Azure Files rejects (notes:v2.txt, com1)
    or names that differ only in case; a file written while it uploads fails the deploy. The
    launcher goes up as a new release the server switches to only once it is complete. With a
    serve.json that lists adapters, --adapter adds its adapter to the uploaded copy.
    "Unchanged" rests on the size and SHA-256 deploy recorded in each file's metadata after its
    last byte (and the ETag in aitk/deploy-manifest.json): something else that rewrites a file on
    the share in place, keeping its size, is not seen; --verify reads every file back and hashes it.
    A deploy whose restart never happened (Ctrl-C, a lost connection) is completed by the next one:
    the running server reports the launcher release and serve.json it started with, and deploy
    restarts the active revision until they match the share. One deploy at a time per share: it
    holds a lease on aitk/deploy-lock, and a second one refuses, naming the first.
examples:
  - name: Deploy the inference folder and the launcher.
    text: az aitk inference deploy
  - name: Push a local LoRA adapter and serve it as the model "support-bot".
    text: az aitk inference deploy --adapter support-bot=./models/run1/adapter
  - name: Also remove files under aitk/ that are gone locally; do not wait.
    text: az aitk inference deploy --delete --no-wait
"""

helps["aitk inference endpoint"] = """
type: command
short-summary: Show the endpoint's URL, state and model names (with --show-key, both API keys).
long-summary: >-
    The endpoint speaks the OpenAI API (/v1/chat/completions, /v1/completions, /v1/models); the
    base model and each adapter are separate model names. A small chat page is at the URL's root.
    The keys are shown only with --show-key: apiKey (primary) and secondaryApiKey, both accepted
    (`az aitk inference key rotate` replaces one), with `curl`: a command that asks the base model
    one question with the key in $AITK_API_KEY, which it reads through stdin (`-H @-`) so that the
    key is neither in your shell's history nor on a command line `ps` shows; set the variable with
    `export AITK_API_KEY=$(az aitk inference endpoint --show-key --query apiKey -o tsv)`.
    Asking for the models wakes a scaled-to-zero app: it waits for it up to --wait seconds,
    saying so on stderr (--wait 0 answers at once). So open the chat page at the URL this
    prints: the app is awake by then. A browser that opens the URL of a scaled-to-zero app itself
    waits while a replica starts, and gets the ingress's own "upstream request timeout" page when
    the start takes longer than its 240 s idle limit; an open page wakes the endpoint by itself when a
    message finds it scaled to zero.
examples:
  - name: URL, state and models as a table.
    text: az aitk inference endpoint -o table
  - name: The chat page's URL, printed once the app is awake (open it in a browser).
    text: az aitk inference endpoint --query url -o tsv
  - name: Put the primary key in $AITK_API_KEY (not in the shell's history), then print a
      ready-to-paste curl that asks the base model a question with it.
    text: |
        export AITK_API_KEY=$(az aitk inference endpoint --show-key --query apiKey -o tsv)
        az aitk inference endpoint --show-key --query curl -o tsv
  - name: Call it with curl (bash; -o tsv of an object is one line); the key goes in through stdin,
      never on a command line.
    text: |
        read -r URL KEY MODEL <<< "$(az aitk inference endpoint --show-key \\
          --query '{u: url, k: apiKey, m: models[0]}' -o tsv)"
        curl -fsS "$URL/v1/chat/completions" -H @- <<< "Authorization: Bearer $KEY" \\
          -H "Content-Type: application/json" \\
          -d '{"model": "'"$MODEL"'", "max_tokens": 64,
               "messages": [{"role": "user", "content": "Hello!"}]}'
  - name: Call it with the OpenAI Python client (pip install openai).
    text: |
        read -r URL KEY <<< "$(az aitk inference endpoint --show-key \\
          --query '{u: url, k: apiKey}' -o tsv)"
        OPENAI_API_KEY="$KEY" python3 - "$URL" <<'PY'
        import sys
        from openai import OpenAI
        client = OpenAI(base_url=sys.argv[1] + "/v1")  # the key: $OPENAI_API_KEY
        model = client.models.list().data[0].id
        reply = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "Hello!"}])
        print(reply.choices[0].message.content)
        PY
"""

helps["aitk inference key"] = """
type: group
short-summary: Manage the endpoint's two API keys.
"""

helps["aitk inference key rotate"] = """
type: command
short-summary: Replace one of the endpoint's two API keys; the other keeps working.
long-summary: >-
    The endpoint accepts two keys, the primary (apiKey) and the secondary (secondaryApiKey), both
    kept only as the container app's secrets. To rotate with no refused request: replace the key
    your clients do not use (`--key secondary`), move them to it (`endpoint --show-key`), then
    replace the other (`--key primary`): the old primary stops working then. Azure applies a
    secret to a running revision only when it restarts, so rotate restarts the active revision and
    waits until the endpoint accepts the new key (the replica loads the model again, as after a
    deploy that restarts). It either completes (the new key in force and served; output
    "rotation": "complete") or says what is left: a restart Azure refuses puts the old key back;
    a server that does not take the new key in time (or does not start) leaves the rotation
    pending, and the next `key rotate` of that key finishes it without making another key. The
    new key is not printed unless --show-key is given. An app provisioned before the secondary
    key existed is refused: run provision again first (it keeps the key and adds the secondary).
examples:
  - name: Replace the secondary key, then move clients to it.
    text: |
        az aitk inference key rotate --key secondary
        KEY=$(az aitk inference endpoint --show-key --query secondaryApiKey -o tsv)
  - name: Then replace the primary key (the old primary stops working).
    text: az aitk inference key rotate --key primary
"""

helps["aitk inference chat"] = """
type: command
short-summary: Chat with the endpoint in the terminal (replies stream as they are made).
long-summary: >-
    Talks to /v1/chat/completions of the endpoint in infra/inference.config.json with the API key
    from the container app's secrets (never shown). Interactive: type a message at the `you>`
    prompt; the conversation is kept for the session; Ctrl-C stops a reply and keeps you in the
    chat; Ctrl-D or /exit leaves. Lines that start with / are commands for the chat itself, never
    sent: /help, /exit, /clear (forget the conversation), /model NAME (switch model), /system
    TEXT (set the system message); //text sends "/text". Control characters in the model's
    output (other than newline and tab) are shown as ^X, so they cannot drive your terminal.
    With --message it sends one message, prints only the reply and
    exits, so it composes in scripts. A scaled-to-zero endpoint starts on the first request: chat
    waits for it (up to --wait seconds, retrying what the ingress ends after 240 s with nothing sent) and says so on
    stderr ("waking the endpoint: replica starting, 0:42 …").
examples:
  - name: Chat with the base model.
    text: az aitk inference chat
  - name: Chat with an adapter, with a system message and a low temperature.
    text: |
        az aitk inference chat --model support-bot \\
          --system "You are a terse support agent." --temperature 0.2
  - name: One message, only the reply printed (for scripts).
    text: |
        az aitk inference chat --message "Say hi in French" \\
          --max-tokens 32
  - name: One message to an endpoint that may be asleep; wait up to 20 minutes.
    text: az aitk inference chat --message "Hello" --wait 1200
"""

helps["aitk inference compare"] = """
type: command
short-summary: Ask the base model and each adapter the same prompts; show the answers side by side.
long-summary: >-
    Did the adapter change what you wanted, and nothing else? Sends every prompt of the file to
    the base model and to each model of --models (default: every model the endpoint lists), one
    request at a time, greedy (temperature 0) unless you say otherwise, and returns the answers
    with the tokens and latency of each; an adapter's answer equal to the base's is marked
    sameAsBase. The prompts file is one prompt per line, or JSONL with one JSON list of chat
    messages per line (the last one the user's). -o table shows one row per prompt and one column
    per model; --report FILE.html writes a self-contained page with the whole answers.
examples:
  - name: Compare the base model with every adapter, one prompt per line.
    text: az aitk inference compare --prompts prompts.txt -o table
  - name: Compare with one adapter, chat prompts, and write an HTML page.
    text: |
        az aitk inference compare --prompts chats.jsonl \\
            --models support-bot --report compare.html
"""

helps["aitk inference bench"] = """
type: command
short-summary: Load-test the endpoint; report tokens/s, time to first token, latency and cost.
long-summary: >-
    Sweeps concurrency levels (default 1, 8 and 32) against this workspace's endpoint only (the
    HTTPS ingress of the app in infra/inference.config.json; anything else is refused): at each
    level it streams --requests completions of about --prompt-tokens prompt tokens and exactly
    --output-tokens output tokens, that many at a time, with the OpenAI Python client on asyncio.
    Reports per level the output tokens per second, time to first token and request latency (p50
    and p95, seconds), and the cost per million output tokens at the GPU profile's list price per
    second (a dated table; --price-per-hour uses your own rate). Token counts are the server's
    own. Bounded: at most 5000 requests, and none is started after --max-seconds. Progress goes to
    stderr. A scaled-to-zero app is woken and waited for before the sweep starts.
    Also reports what one replica carried (replicaCapacity: the most requests per second a level
    completed without a failure, over the replicas serving) and the HTTP scale rule's value that
    matches it (scaleRule); --apply-scale-rule sets it on the app (a new revision).
examples:
  - name: The default sweep (1, 8, 32 concurrent requests) as a table.
    text: az aitk inference bench -o table
  - name: Longer prompts, shorter answers, your own concurrency levels.
    text: |
        az aitk inference bench --concurrency 1 4 16 \\
            --prompt-tokens 512 --output-tokens 64
  - name: Load an adapter; cost at your own hourly rate, as JSON.
    text: az aitk inference bench -m support-bot --price-per-hour 1.5 -o json
  - name: Measure what one replica carries and set the app's scale rule to it.
    text: az aitk inference bench --concurrency 1 8 --apply-scale-rule
"""

helps["aitk inference status"] = """
type: command
short-summary: Show the revision, replicas, GPU profile, scale settings and whether the server is ready.
long-summary: >-
    Reads the container app, its latest revision and its replicas, then asks the server's
    /health and /v1/models when a replica runs (it does not wake a scaled-to-zero app). When the
    revision failed or its container restarted, `error` holds the last start-up error (from
    the revision, the replica, or the last error line of the console log).
examples:
  - name: The status as a table.
    text: az aitk inference status -o table
  - name: Only whether it is ready and what it serves.
    text: az aitk inference status --query "{ready:ready, models:models}"
"""

helps["aitk inference adapter"] = """
type: group
short-summary: Manage the adapters deploy pushed to the share.
"""

helps["aitk inference adapter remove"] = """
type: command
short-summary: Remove one adapter deploy pushed (aitk/adapters/NAME on the share).
long-summary: >-
    Deletes aitk/adapters/NAME/ on the share and its entries in deploy's manifest, nothing else (the
    base model, fine-tuning's outputs and the other adapters stay). Nothing restarts: replicas that
    loaded the adapter keep serving their checked copy of it until they restart; a replica that
    starts later does not serve it, and a request naming it then gets 404. At start the server
    leaves out, with one line in its log, an adapter that fails its checks, so a bad adapter never
    keeps the base model from serving; this command takes such an adapter off the share.
examples:
  - name: Remove the adapter pushed as "support-bot".
    text: az aitk inference adapter remove --name support-bot
"""

helps["aitk inference delete"] = """
type: command
short-summary: Delete the inference container app and what provision made only for it.
long-summary: >-
    Always deletes the container app in infra/inference.config.json. Its Container Apps
    environment (and that environment's Log Analytics workspace) and the storage account go
    only when provision made them (the template's default names) and nothing else uses them:
    never the fine-tuning storage or share of infra/finetuning.config.json, never a resource
    you reused. It lists what it deletes and what it keeps, then asks (--yes skips the question).
    What deploy put on a share that stays (aitk/launcher, aitk/inference, aitk/adapters) is kept
    unless --purge-share-files is given. The workspace files stay; run provision to create it all
    again. When the app is gone already there is nothing to delete, and that is no error.
    After a provision that did not finish (the config says PROVISION_STATE incomplete), it
    deletes what that provision created in the group (the resources tagged aitkProvisioned) and
    the partial config, so provision can start again anywhere.
examples:
  - name: See what would go and confirm.
    text: az aitk inference delete
  - name: Delete without asking and without waiting for the environment.
    text: az aitk inference delete --yes --no-wait
  - name: Also remove aitk/ (launcher, config, pushed adapters) from a share that stays.
    text: az aitk inference delete --yes --purge-share-files
"""

helps["aitk inference logs"] = """
type: command
short-summary: Show the serving container's console log (the launcher's lines, then vLLM's).
long-summary: >-
    Reads the log streaming endpoint of the container app, as `az containerapp logs show` does,
    from a running replica of the latest revision (or --revision). When no replica runs (scaled to
    zero, or crashed), it shows the console of the last terminated replica from the environment's
    Log Analytics workspace. --type system shows the replica's events instead, as
    `az containerapp logs show --type system` does: why a start failed or took long. The health
    probes' access lines (`GET /health … 200`, every few seconds) are hidden unless --all is given.
examples:
  - name: The last 100 lines.
    text: az aitk inference logs
  - name: The last 20 lines, then follow new ones until Ctrl-C.
    text: az aitk inference logs --tail 20 --follow
  - name: Every line, the health probes' too.
    text: az aitk inference logs --all
  - name: The replica's events (image pull, start, probes, exit codes, scaling).
    text: az aitk inference logs --type system
  - name: Where the last start spent its time, phase by phase (also `status`'s lastStart).
    text: az aitk inference logs --timeline
"""

helps["aitk inference wait"] = """
type: command
short-summary: Wait until the endpoint serves or its container app is gone (after --no-wait).
long-summary: >-
    As az's own wait commands do after a --no-wait: prints nothing once the condition holds,
    fails when --timeout passes. --ready waits for the app's deployment, then for /health (which
    starts a scaled-to-zero app) and a model list; --deleted for the container app to be gone.
examples:
  - name: Deploy without waiting, then wait until it serves.
    text: |
        az aitk inference deploy --no-wait
        az aitk inference wait --ready --timeout 1800
  - name: Wait until the container app is deleted.
    text: az aitk inference wait --deleted
"""
