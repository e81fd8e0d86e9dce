"""The one harness for "the real az, with aitk installed from the wheel, signed in to the local Azure
stand-in", used by the CLI and end-to-end tests, the benchmarks and `make demo`.

    wheel = current_wheel(scratch)                 # dist/'s wheel when fresh, else a private build
    az = signed_in_az(azure, base, wheel)          # azure: a started azure_standin.StandIn
    proc = az("group", "list")                     # CompletedProcess, output captured, never raises
    groups = az.ok("group", "list", "-o", "json")  # asserts success (shows az's output), parsed JSON
    az.run("aitk", "inference", "init")            # raises AzError on failure; echoes when echo=True

The az is the venv's azure-cli (the `az` beside sys.executable), run as a subprocess with a private
config folder and a private extension folder, so no test sees the user's az and none sees another's.
Two things every az it starts gets, whatever the caller's state: the current folder is not on
Python's path (PYTHONSAFEPATH: pip's `az` is `python -m azure.cli`, which would import a workspace's
`azure/` or `knack.py` before the real ones), and the default SIGINT (a shell's background job, and
so `make test &`, inherits SIGINT ignored, and a Python started so never raises KeyboardInterrupt).
"""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from azure_standin.server import CLOUD_NAME

# The repository this dev kit is installed from (editable: `make venv` installs it with pip -e).
ROOT = Path(__file__).resolve().parents[2]
AZ = str(Path(sys.executable).with_name("az"))
EXT_SOURCES = [ROOT / "setup.py", ROOT / "src" / "aitk", ROOT / "container" / "aitk_serve"]


class AzError(RuntimeError):
    def __init__(self, args, returncode, stdout, stderr):
        super().__init__(f"az {' '.join(args)} exited {returncode}:\n{stderr.strip()}")
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


# -- the wheel -----------------------------------------------------------------------------------
def version() -> str:
    match = re.search(r'^VERSION = "(.*)"', (ROOT / "setup.py").read_text(), re.M)
    return match.group(1)


def newest_source_mtime() -> float:
    newest = 0.0
    for src in EXT_SOURCES:
        paths = [src] if src.is_file() else [p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        newest = max([newest] + [p.stat().st_mtime for p in paths])
    return newest


def build_wheel(out_dir) -> Path:
    """Build from a private copy of the sources (other builds in the tree cannot interfere)."""
    stage = Path(out_dir) / "src"
    stage.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "setup.py", stage / "setup.py")
    if (ROOT / "README.md").exists():
        shutil.copy2(ROOT / "README.md", stage / "README.md")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "src" / "aitk", stage / "src" / "aitk", ignore=ignore)
    shutil.copytree(ROOT / "container" / "aitk_serve", stage / "container" / "aitk_serve", ignore=ignore)
    dist = Path(out_dir) / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(stage), "-w", str(dist)],
        check=True,
        cwd=str(stage),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return next(dist.glob("aitk-*.whl"))


def current_wheel(scratch) -> Path:
    """dist/aitk-<version>-py3-none-any.whl when `make wheel` made it from the current sources, else a
    fresh build under `scratch`."""
    wheel = ROOT / "dist" / f"aitk-{version()}-py3-none-any.whl"
    if wheel.is_file() and wheel.stat().st_mtime >= newest_source_mtime():
        return wheel
    return build_wheel(scratch)


# -- az's environment ----------------------------------------------------------------------------
def default_sigint():
    """preexec_fn for every process the harness (or a test) starts that a user would stop with
    Ctrl-C: SIGINT back to its default, which a process that inherited SIG_IGN cannot do itself
    (Python then installs no KeyboardInterrupt handler; bash -c cannot trap it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def az_env(base) -> dict:
    """This process's environment without any AZURE_*/AZ_* of the user's, with az's config and extension
    folders under `base`, telemetry and surveys off, and the current folder kept off Python's path
    (PYTHONSAFEPATH, Python >= 3.11: az runs as `python -m azure.cli`, which would put it first)."""
    base = Path(base)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "AZ_"))}
    env.update(
        {
            "AZURE_CONFIG_DIR": str(base / "config"),
            "AZURE_EXTENSION_DIR": str(base / "extensions"),
            "AZURE_CORE_COLLECT_TELEMETRY": "false",
            "AZURE_CORE_SURVEY_MESSAGE": "false",
            "AZURE_CORE_NO_COLOR": "true",
            "AZURE_CORE_ONLY_SHOW_ERRORS": "false",
            "PYTHONSAFEPATH": "1",
        }
    )
    (base / "config").mkdir(parents=True, exist_ok=True)
    (base / "extensions").mkdir(parents=True, exist_ok=True)
    return env


def standin_env(azure) -> dict:
    """What az needs to talk to the stand-in: trust its CA (requests and MSAL read these), and no
    instance discovery or interactive login experience (both would go to the public cloud)."""
    return {
        "REQUESTS_CA_BUNDLE": azure.ca_bundle,
        "SSL_CERT_FILE": azure.ca_bundle,
        "AZURE_CORE_INSTANCE_DISCOVERY": "false",
        "AZURE_CORE_LOGIN_EXPERIENCE_V2": "off",
        # Registry login servers (<name>.azurecr.standin.local) through the stand-in's CONNECT tunnel,
        # which plays DNS for them; everything else the stand-in serves is 127.0.0.1, reached directly.
        **(
            {"HTTPS_PROXY": azure.proxy_url, "https_proxy": azure.proxy_url}
            if getattr(azure, "proxy_url", None)
            else {}
        ),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


# -- az ------------------------------------------------------------------------------------------
def ok(proc, parse=True):
    """Assert an az run succeeded (showing its output when not); its JSON output, if any."""
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return json.loads(proc.stdout) if parse and proc.stdout.strip() else None


def one_error(proc, *needles, in_line=False):
    """Assert an az run failed as a user should see it: non-zero, no traceback, exactly one ERROR
    line; each of `needles` in stderr (in that line when `in_line`). The ERROR line."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in (errors[0] if in_line else proc.stderr), proc.stderr
    return errors[0]


class Az:
    """The real az with one environment."""

    def __init__(self, env: dict, *, echo: bool = False, executable: str = AZ):
        self.env, self.echo, self.executable = env, echo, executable

    def __call__(self, *args, cwd=None, timeout=300, input=None):  # pylint: disable=redefined-builtin
        """Run az with its output captured; the CompletedProcess, whatever the exit status."""
        return subprocess.run(
            [self.executable, *args],
            cwd=cwd,
            env=self.env,
            text=True,
            input=input,
            capture_output=True,
            timeout=timeout,
            check=False,
            preexec_fn=default_sigint,
        )

    def ok(self, *args, cwd=None, timeout=300):
        """Run az, assert it succeeded (showing its output when not); its JSON output, if any."""
        proc = self(*args, cwd=cwd, timeout=timeout)
        assert proc.returncode == 0, f"az {' '.join(args)}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    def run(self, *args, cwd=None, check=True, capture=False, timeout=900):
        """Run az as a user would see it (output on this terminal unless `capture`); AzError on failure
        when `check`."""
        if self.echo:
            print("$ az " + " ".join(shlex.quote(a) for a in args), flush=True)
        proc = subprocess.run(
            [self.executable, *args],
            cwd=cwd,
            env=self.env,
            text=True,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            timeout=timeout,
            check=False,  # the exit status is checked below, into AzError
            preexec_fn=default_sigint,
        )
        if check and proc.returncode != 0:
            raise AzError(args, proc.returncode, proc.stdout or "", proc.stderr or "")
        return proc

    def json(self, *args, cwd=None):
        """Run az with `-o json`; its parsed output (AzError on failure)."""
        proc = self.run(*args, "-o", "json", cwd=cwd, capture=True)
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    def spawn(self, *args, cwd, timeout=60):
        """az under a real pseudo-terminal (pexpect, from requirements/ext.txt; TERM=dumb, 40x200):
        the pexpect child. AITK_TEST_TRANSCRIPT names a file that gets what the terminal shows."""
        import pexpect  # only the terminal tests need it

        child = pexpect.spawn(
            self.executable,
            list(args),
            env=dict(self.env, TERM="dumb"),
            cwd=str(cwd),
            encoding="utf-8",
            timeout=timeout,
            dimensions=(40, 200),
            preexec_fn=default_sigint,
        )
        if os.environ.get("AITK_TEST_TRANSCRIPT"):
            child.logfile_read = open(  # pylint: disable=consider-using-with  # pexpect writes it until the end
                os.environ["AITK_TEST_TRANSCRIPT"], "a", encoding="utf-8"
            )
        return child

    def popen(self, *args, cwd, **options):
        """az started and left running (a followed log, a deploy to interrupt): the Popen, with
        `options` passed on (stdout=..., start_new_session=...)."""
        return subprocess.Popen(  # pylint: disable=consider-using-with  # the caller waits for it
            [self.executable, *args], cwd=str(cwd), env=self.env, preexec_fn=default_sigint, **options
        )

    def add_extension(self, wheel):
        """`az extension add --source <wheel>`: aitk installed the way a user installs it."""
        self.run("extension", "add", "--source", str(wheel), "--yes", capture=True)


def sign_in(azure, env: dict, az_executable: str = AZ):
    """Register the stand-in as a custom cloud in az's config folder (`env`'s AZURE_CONFIG_DIR) and
    sign in with its service principal, as a user signs in to a sovereign cloud. Idempotent.
    RuntimeError naming the az command and its stderr (never the secret) when a step fails."""

    def az(*args):
        proc = subprocess.run([az_executable, *args], env=env, text=True, capture_output=True, timeout=180, check=False)
        if proc.returncode != 0:
            raise RuntimeError(
                f"az {args[0]} {args[1] if len(args) > 1 else ''} failed ({proc.returncode}):\n{proc.stderr.strip()}"
            )
        return proc

    existing = subprocess.run(
        [az_executable, "cloud", "show", "-n", CLOUD_NAME, "-o", "json"],
        env=env,
        text=True,
        capture_output=True,
        timeout=180,
        check=False,
    )
    if existing.returncode == 0:
        az("cloud", "set", "-n", "AzureCloud")
        az("cloud", "unregister", "-n", CLOUD_NAME)
    az("cloud", "register", "-n", CLOUD_NAME, *azure.cloud_register_args())
    az("cloud", "set", "-n", CLOUD_NAME)
    az("config", "set", "core.instance_discovery=false", "core.login_experience_v2=off")
    # --password=…: a secret may start with "-", which argparse would take for an option
    az(
        "login",
        "--service-principal",
        "-u",
        azure.client_id,
        f"--password={azure.client_secret}",
        "--tenant",
        azure.tenant_id,
        "-o",
        "none",
    )
    az("account", "set", "-s", azure.subscription_id)


def signed_in_az(azure, base, wheel=None, *, echo=False) -> Az:
    """az with private folders under `base`, trusting and signed in to the stand-in `azure`, with aitk
    installed from `wheel` (none: az alone)."""
    env = az_env(base)
    env.update(standin_env(azure))
    az = Az(env, echo=echo)
    if wheel is not None:
        az.add_extension(wheel)
    sign_in(azure, env)
    return az
