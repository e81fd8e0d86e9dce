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
  HTTP/1.1 proxy to the private port, responses streamed chunk by chunk (SSE). Every request is
  under Azure's ingress idle timeout (requestIdleTimeout, 240 s): each read, from the client or the
  replica, waits at most that long for its next byte. A request still waiting for a replica then
  gets 504 `upstream request timeout`, one whose replica sent nothing yet 504 `stream timeout`, and
  a response that stops sending mid-stream is cut; a stream that keeps sending is never cut. With minReplicas 0 (ACA's
  default) a request starts a replica and is held until it is ready; after scale.cooldownPeriod
  (default 300 s) with no request the replica is stopped (scaled to zero). 503 when the revision
  cannot start or its replica keeps crashing.
- Scale-out: the HTTP scale rule (requests in the past 15 s / 15 over concurrentRequests, every 15 s)
  adds replicas up to maxReplicas, each its own process, and removes them once it has asked for fewer
  for cooldownPeriod; the ingress spreads requests over the ready replicas (replica.py, azure_rules.py).
- Probes (startup, readiness, liveness) run as configured, Azure's TCP defaults for the types left
  out; a startup or liveness probe failing failureThreshold x periodSeconds restarts the container.
- Crashes restart with exponential backoff (1 s, 2 s, 4 s ... 30 s), counted in `restarts`.
- Every duration is Azure's times one `time_scale` (Runtime/StandIn argument, default 1.0); an
  optional image pull delay (image size / `pull_mb_per_s`) precedes each replica's start.
- The system log (scheduled, image pulled, container started/terminated with its exit code, probe
  failed, scaled in/out) and Log Analytics rows: system_log.py.
- Stop: SIGTERM to the process group, SIGKILL after 10 s.
"""

from .container_runtime import Runtime

__all__ = ["Runtime"]
