"""Container Apps' console log streaming endpoint, as `az containerapp logs show` calls it.

    GET {eventStreamEndpoint base}/subscriptions/{s}/resourceGroups/{rg}/containerApps/{app}
        /revisions/{rev}/replicas/{replica}/containers/{container}/logstream
        ?follow=true|false&tailLines=N&output=text|json
    Authorization: Bearer <token from POST …/containerApps/{app}/getAuthToken>

The base is the stand-in's own URL (providers/app.py sets eventStreamEndpoint to
`{url}{app id}/eventstream`), so these requests reach the stand-in's server; its router sends
paths `matches()` accepts to `handle()`. Lines come from the runtime's console log of the app
(`runtime.log_lines`, `runtime.status()["log_path"]`). Text output is one line per log line
prefixed with an ISO timestamp, like the service; json is {"TimeStamp", "Log"} per line. With
follow=true the stream stays open, sending new lines as the log grows and a blank keep-alive
line every few idle seconds (clients skip blank lines), until the client goes, the app is
removed, or MAX_FOLLOW_S pass.
"""

import json
import re
import time
from datetime import datetime, timezone

from ..http import Response, json_response

PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/containerApps/(?P<app>[^/]+)"
    r"/revisions/(?P<rev>[^/]+)/replicas/(?P<replica>[^/]+)/containers/(?P<container>[^/]+)/logstream/?$",
    re.I,
)
# `az containerapp logs show --type system` (Azure/azure-cli command_modules/containerapp/custom.py,
# stream_containerapp_logs; base = the app's eventStreamEndpoint before /subscriptions/):
# {base}/subscriptions/{s}/resourceGroups/{rg}/containerApps/{app}/eventstream
# with the same follow/output/tailLines query and token; one JSON event per line.
SYSTEM_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/containerApps/(?P<app>[^/]+)/eventstream/?$", re.I
)
POLL_S = 0.2
KEEPALIVE_S = 5.0
MAX_FOLLOW_S = 600.0
MAX_TAIL = 300


def matches(req) -> bool:
    return PATH.match(req.path) is not None or SYSTEM_PATH.match(req.path) is not None


def _error(status, code, message):
    return json_response(status, {"error": {"code": code, "message": message}})


def _stamp():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _fmt(line, output):
    if output == "json":
        return (json.dumps({"TimeStamp": _stamp(), "Log": line}) + "\n").encode()
    return f"{_stamp()}  {line}\n".encode()


def _system(req, standin, m) -> Response:
    g = m.groupdict()
    app_id = f"/subscriptions/{g['sub']}/resourceGroups/{g['rg']}/providers/Microsoft.App/containerApps/{g['app']}"
    rec = standin.arm.get_record(app_id)
    if rec is None:
        return _error(404, "ContainerAppNotFound", f"Container app '{g['app']}' was not found.")
    try:
        tail = int(req.query.get("tailLines") or 20)
    except ValueError:
        return _error(400, "BadRequest", "tailLines must be a number.")
    follow = (req.query.get("follow") or "false").lower() == "true"
    rid = rec["id"].lower()

    def events():
        return standin.runtime.system_events(rid) if standin.runtime is not None else []

    def body():
        seen = events()
        for ev in seen[-tail:] if tail else []:
            yield (json.dumps(ev) + "\n").encode()
        if not follow:
            return
        start = idle = time.monotonic()
        while time.monotonic() - start < MAX_FOLLOW_S:
            if standin.arm.get_record(app_id) is None:
                return
            now = events()
            new, seen = now[len(seen) :], now
            if new:
                idle = time.monotonic()
                yield b"".join((json.dumps(ev) + "\n").encode() for ev in new)
            elif time.monotonic() - idle > KEEPALIVE_S:
                idle = time.monotonic()
                yield b"\n"
            time.sleep(POLL_S)

    return Response(200, {"Content-Type": "application/x-ndjson"}, body())


def handle(req, standin) -> Response:  # pylint: disable=too-many-return-statements  # one answer per route/refusal
    auth = req.headers.get("Authorization") or ""
    sm = SYSTEM_PATH.match(req.path)
    if sm is not None:
        if not auth.startswith("Bearer ") or standin.entra.verify(auth[7:].strip()) is None:
            return _error(401, "Unauthorized", "The log stream needs a token from getAuthToken.")
        return _system(req, standin, sm)
    m = PATH.match(req.path)
    if m is None:
        return _error(404, "NotFound", f"No route for {req.path}")
    auth = req.headers.get("Authorization") or ""
    if not auth.startswith("Bearer ") or standin.entra.verify(auth[7:].strip()) is None:
        return _error(401, "Unauthorized", "The log stream needs a token from getAuthToken.")
    g = m.groupdict()
    app_id = f"/subscriptions/{g['sub']}/resourceGroups/{g['rg']}/providers/Microsoft.App/containerApps/{g['app']}"
    rec = standin.arm.get_record(app_id)
    if rec is None:
        return _error(404, "ContainerAppNotFound", f"Container app '{g['app']}' was not found.")
    revs = rec["private"]["revisions"]
    if not any(r["name"].lower() == g["rev"].lower() for r in revs):
        return _error(404, "RevisionNotFound", f"Revision '{g['rev']}' was not found.")
    latest = revs[-1]
    # the revision's replicas that run now (replica 0's name also while it is scaled to zero)
    runtime_now = standin.runtime
    replica_names = (runtime_now.replica_names(rec["id"].lower()) if runtime_now is not None else []) or [
        f"{latest['name']}-0"
    ]
    cname = (latest["template"].get("containers") or [{}])[0].get("name", "main")
    if (
        g["rev"].lower() != latest["name"].lower()
        or g["replica"].lower() not in [n.lower() for n in replica_names]
        or g["container"] != cname
    ):
        return _error(
            404, "ReplicaNotFound", f"Replica '{g['replica']}' or container '{g['container']}' was not found."
        )
    try:
        tail = int(req.query.get("tailLines") or 20)
    except ValueError:
        return _error(400, "BadRequest", "tailLines must be a number.")
    if not 0 <= tail <= MAX_TAIL:
        return _error(400, "BadRequest", f"tailLines must be between 0 and {MAX_TAIL}.")
    follow = (req.query.get("follow") or "false").lower() == "true"
    output = (req.query.get("output") or "text").lower()
    rid = rec["id"].lower()
    runtime = standin.runtime

    def lines_now():
        return runtime.log_lines(rid, replica=g["replica"]) if runtime is not None else []

    def body():
        yield _fmt(f"Connecting to the container '{cname}'...", output)
        yield _fmt(
            f"Successfully Connected to container: '{cname}' [Revision: '{latest['name']}', Replica: '{g['replica']}']",
            output,
        )
        seen = lines_now()
        for line in seen[-tail:] if tail else []:
            yield _fmt(line, output)
        if not follow:
            return
        start = idle = time.monotonic()
        while time.monotonic() - start < MAX_FOLLOW_S:
            if standin.arm.get_record(app_id) is None:
                return
            now = lines_now()
            if len(now) < len(seen):  # a new process started a fresh log
                seen = []
            new = now[len(seen) :]
            seen = now
            if new:
                idle = time.monotonic()
                yield b"".join(_fmt(line, output) for line in new)
            elif time.monotonic() - idle > KEEPALIVE_S:
                idle = time.monotonic()
                yield b"\n"
            time.sleep(POLL_S)

    return Response(
        200, {"Content-Type": "text/plain; charset=utf-8" if output != "json" else "application/x-ndjson"}, body()
    )
