"""`make demo`: the whole aitk flow, offline, against the local Azure stand-in.

What a user does in Cloud Shell after AI Toolkit fine-tuning, step by step, with the real `az`
and the extension installed from the built wheel:
  1. fine-tuning left a base model and a LoRA adapter on an Azure Files share (here: a tiny
     random model, and an adapter trained now on CPU to answer the demo prompt with one
     sentence, written to the stand-in's share);
  2. az aitk inference init / provision / deploy / endpoint;
  3. call the endpoint with the OpenAI client, for the base model (it babbles) and for the
     adapter (it answers with the trained sentence);
  4. az aitk inference compare on three prompts, side by side.
Prints the time each step took; exits non-zero when any step fails. With --keep (`make demo
KEEP=1`) the stand-in and the endpoint stay up afterwards, until Ctrl-C, and the demo prints how to
run status, chat, logs and delete against them from another terminal.
"""

import argparse
import json
import shlex
import shutil
import sys
import threading
import time
from pathlib import Path

from aitk_testkit.az_harness import signed_in_az
from aitk_testkit.scenario import DEMO_ADAPTER, DEMO_MODEL, RESOURCE_GROUP, openai_client, seed_finetuning_leftovers
from aitk_testkit.tiny_models import DEMO_ANSWER, DEMO_PROMPT
from azure_standin import StandIn

ROOT = Path(__file__).resolve().parents[1]


class Steps:
    def __init__(self):
        self.times = []

    def run(self, title, fn, *args, **kwargs):
        print(f"\n=== {title}", flush=True)
        start = time.monotonic()
        result = fn(*args, **kwargs)
        took = time.monotonic() - start
        self.times.append((title, took))
        print(f"--- {title}: {took:.1f} s", flush=True)
        return result


# What a newcomer runs against the kept stand-in, printed exactly as they paste it (and run so by
# tests/cli/test_demo_keep.py).
TRY_NEXT = (
    "az aitk inference status -o table",
    'az aitk inference chat --message "What is the capital of France?"   # without --message: a chat',
    "az aitk inference logs --tail 20",
    "az aitk inference delete --yes   # what provision made; fine-tuning's share stays",
)
# The environment that makes a shell's `az` the demo's: signed in to the stand-in, trusting its CA.
_SHELL_ENV = ("AZURE_", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "PYTHONSAFEPATH")


def write_shell_env(az, workspace, path) -> Path:
    """A file to `source`: the venv's az first on PATH, az's private folders, the stand-in's CA and
    the workspace as the current folder. Paths and switches only; no key or secret."""
    lines = [f'export PATH={shlex.quote(str(Path(sys.executable).parent))}:"$PATH"']
    lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(az.env.items()) if k.startswith(_SHELL_ENV)]
    lines.append(f"cd {shlex.quote(str(workspace))}")
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path


def keep_running(az, workspace, base, *, out=print, wait=None):
    """Print how to use the running stand-in from another terminal, then wait (`wait`, default:
    until Ctrl-C). The caller's `with StandIn(...)` stops everything afterwards."""
    env_file = write_shell_env(az, workspace, Path(base) / "env.sh")
    out("\n=== The stand-in and the endpoint keep running; Ctrl-C here stops them. In another terminal:")
    out(f"source {shlex.quote(str(env_file))}   # this az, signed in to the stand-in, in the workspace")
    for line in TRY_NEXT:
        out(line)
    try:
        (wait or threading.Event().wait)()
    except KeyboardInterrupt:
        out("\nStopping the stand-in.")


def shown(endpoint):
    """`endpoint --show-key`'s answer as the demo prints it: the key and anything holding it hidden."""
    keys = [v for k, v in endpoint.items() if "key" in k.lower() and v]
    return {
        k: "<hidden>" if "key" in k.lower() or any(key in json.dumps(v) for key in keys) else v
        for k, v in endpoint.items()
    }


def main(argv=None):  # pylint: disable=too-many-locals
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=str(ROOT / ".demo"), help="scratch folder (reset each run)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the stand-in running afterwards (until Ctrl-C) to try commands"
    )
    args = parser.parse_args(argv)
    base_dir = Path(args.dir)
    shutil.rmtree(base_dir, ignore_errors=True)
    base_dir.mkdir(parents=True)
    wheels = sorted((ROOT / "dist").glob("aitk-*.whl"))
    if not wheels:
        print("demo: no wheel in dist/; run `make demo` (it builds the wheel first)", file=sys.stderr)
        return 2

    steps = Steps()
    with StandIn(base_dir / "azure") as azure:
        workspace = base_dir / "workspace"
        workspace.mkdir()
        az = steps.run(
            "sign in to the local Azure stand-in, install the extension",
            signed_in_az,
            azure,
            base_dir / "az",
            wheels[-1],
            echo=True,
        )
        steps.run(
            "fine-tuning leftovers: tiny base model + a LoRA adapter trained now (peft, CPU) on the share",
            seed_finetuning_leftovers,
            azure,
            az,
            workspace,
            trained=True,
        )
        steps.run("az aitk inference init", az.run, "aitk", "inference", "init", cwd=workspace)
        steps.run(
            "az aitk inference provision", az.run, "aitk", "inference", "provision", "-g", RESOURCE_GROUP, cwd=workspace
        )
        steps.run("az aitk inference deploy", az.run, "aitk", "inference", "deploy", cwd=workspace)
        endpoint = steps.run(
            "az aitk inference endpoint", az.json, "aitk", "inference", "endpoint", "--show-key", cwd=workspace
        )
        print(json.dumps(shown(endpoint), indent=2))

        def ask(model):
            client = openai_client(endpoint, azure.ca_bundle)
            reply = client.chat.completions.create(
                model=model,
                max_tokens=32,
                temperature=0,
                messages=[{"role": "user", "content": DEMO_PROMPT}],
            )
            answer = reply.choices[0].message.content
            print(f"[{model}] {answer!r}")
            return answer

        print(f"\nThe adapter was trained to answer {DEMO_PROMPT!r} with {DEMO_ANSWER!r}.")
        base_answer = steps.run(f"OpenAI client -> base model {DEMO_MODEL}", ask, DEMO_MODEL)
        tuned = steps.run(f"OpenAI client -> adapter {DEMO_ADAPTER}", ask, DEMO_ADAPTER)
        if tuned.strip() != DEMO_ANSWER or base_answer.strip() == DEMO_ANSWER:
            print("demo: the adapter did not answer with the trained sentence", file=sys.stderr)
            return 1
        prompts = workspace / "prompts.txt"
        prompts.write_text(f"{DEMO_PROMPT}\nWhat is the capital of France?\nTell me a story.\n")
        steps.run(
            "az aitk inference compare (three prompts, base and adapter side by side)",
            az.run,
            "aitk",
            "inference",
            "compare",
            "--prompts",
            "prompts.txt",
            "--max-tokens",
            "32",
            "--report",
            "compare.html",
            "-o",
            "table",
            cwd=workspace,
        )
        print(f"Report: {workspace / 'compare.html'}")
        print_timings(steps)
        if args.keep:
            keep_running(az, workspace, base_dir)
    return 0


def print_timings(steps):
    print("\n=== timings")
    for title, took in steps.times:
        print(f"{took:7.1f} s  {title}")
    print(f"{sum(t for _, t in steps.times):7.1f} s  total")


if __name__ == "__main__":
    sys.exit(main())
