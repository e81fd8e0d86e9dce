"""The stand-in's container runtime: a container app's revision as a local process behind a
TLS-terminating ingress on loopback (docs/contracts.md, "The local Azure stand-in's container
runtime"; the calls are listed in docs/standin.md).

- The "image" is this Python environment: a command whose first word is python/python3 runs with
  `sys.executable`; the venv's bin folder leads PATH.
- A leading volume mount path (`/mount`) in the command, args and env values is replaced by the
  share's local folder (also in `--opt=/mount/...` args and in `:`-separated env lists).
- The process listens on a private loopback port given in the env var `AITK_PORT`.
- Env: PATH, HOME, LANG (+ LC_ALL, TMPDIR, LD_LIBRARY_PATH, CUDA_VISIBLE_DEVICES, NVIDIA_* when
  set, and the names listed in AITK_STANDIN_PASSENV) and the app's env (values or secretRefs),
  plus AITK_PORT.
- Ingress: 127.0.0.1:<port> (allocated at the first apply, kept across re-applies, and reused by
  a later Runtime on the same state_dir when free), TLS with a leaf from the stand-in CA,
  HTTP/1.1 proxy to the private port, responses streamed chunk by chunk (SSE). 503 while no
  replica is ready; with minReplicas 0 (ACA's default) the first request starts the replica and
  is held until it is ready (up to 600 s).
- Readiness: the Readiness (else Startup) probe's httpGet.path, default `/health`.
- Crashes restart with exponential backoff (1 s, 2 s, 4 s ... 30 s), counted in `restarts`.
- Stop: SIGTERM to the process group, SIGKILL after 10 s.
"""

from .container_runtime import Runtime

__all__ = ["Runtime"]
