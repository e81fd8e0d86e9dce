"""The stand-in: a loopback HTTPS server that plays Entra ID, Resource Manager and Azure Files."""

import base64
import functools
import json
import logging
import os
import random
import re
import selectors
import socket
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from requests.structures import CaseInsensitiveDict

from . import loganalytics, tls
from .arm.manager import ResourceManager
from .entra import Entra
from .files import handle as files_handle
from .http import Request, Response, json_response, read_body
from .ids import STORAGE_SUFFIX
from .providers import container_registry as acr
from .providers.app import pull_refusal
from .providers.identity import ROLE_PROPAGATION_S
from .runtime import Runtime, logstream

log = logging.getLogger("azure_standin")

CLOUD_NAME = "AitkStandIn"
_FILE_HOST = re.compile(r"^(?P<account>[a-z0-9]{3,24})\.file\." + re.escape(STORAGE_SUFFIX) + r"(?::443)?$", re.I)
FAULT_KINDS = ("429", "500", "503", "latency", "cut")


class _Cut(Exception):
    """The fault injector decided to drop the connection mid-body."""


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.configure(None)

    def configure(self, rate=0.1, seed=1, kinds=FAULT_KINDS, paths=None, latency_s=None):
        """`latency_s`: the delay a "latency" fault adds (None: drawn from 0.2-1.0 s per request)."""
        with self.lock:
            self.latency_s = None if latency_s is None else float(latency_s)
            if rate is None or rate <= 0:
                self.rate, self.rng, self.kinds, self.paths = 0.0, None, (), None
                return
            bad = [k for k in kinds if k not in FAULT_KINDS]
            if bad:
                raise ValueError(f"unknown fault kinds {bad}; known: {FAULT_KINDS}")
            self.rate, self.rng = float(rate), random.Random(seed)
            self.kinds = tuple(kinds)
            self.paths = list(paths) if paths else None

    def draw(self, req: Request):
        """The fault for this request (a kind or None). One RNG step per eligible request."""
        with self.lock:
            if not self.rng or not self.kinds:
                return None
            if self.paths is not None:
                p = req.path.lower()
                if not any(p.startswith(x.lower()) or x.lower() in p for x in self.paths):
                    return None
            hit = self.rng.random() < self.rate
            kind = self.rng.choice(self.kinds)
            latency = self.rng.uniform(0.2, 1.0)  # drawn either way: the same seed, the same faults
            if not hit:
                return None
            return (kind, latency if self.latency_s is None else self.latency_s)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, handler, standin, ctx):
        self.standin, self.ctx = standin, ctx
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        # no Nagle: headers and body go out as separate writes (TLS records); with Nagle on, the
        # second waits for the client's delayed ACK, 40 ms on every request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    def finish_request(self, request, client_address):
        # TLS handshake in the worker thread, not in the accept loop.
        try:
            request.settimeout(120)
            conn = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            try:
                request.close()
            except OSError:
                pass
            return
        self.RequestHandlerClass(conn, client_address, self)

    def handle_error(self, request, client_address):
        log.debug("connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AzureStandIn/1.0"
    sys_version = ""

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin  # the base class's name
        log.debug("%s " + format, self.address_string(), *args)

    def _read_body(self) -> bytes:
        return read_body(self.rfile, self.headers)

    def _dispatch(self):
        standin = self.server.standin
        raw = self.path
        split = urlsplit(raw)
        query = {}
        for k, v in parse_qsl(split.query, keep_blank_values=True):
            query.setdefault(k, v)
        headers = CaseInsensitiveDict()
        for k, v in self.headers.items():
            headers[k] = v
        body = self._read_body()
        path = unquote(split.path)
        host = _FILE_HOST.match(headers.get("Host") or "")
        if host is not None:
            # A host-style Files URL (https://{account}.file.{suffix}/{share}/...): served as the
            # path-style one, /{account}/{share}/...; Shared Key's canonicalized resource is then the
            # service-style /{account}/{share}/..., which files.check_auth accepts.
            prefix = "/" + host["account"].lower()
            path = prefix + (path if path.startswith("/") else "/" + path)
            raw = prefix + (raw if raw.startswith("/") else "/" + raw)
        req = Request(self.command, path, query, headers, body, raw)
        try:
            resp, fault = standin.serve_request(req)
        except Exception as exc:  # pylint: disable=broad-exception-caught  # a stand-in bug: a 500, as ARM's
            log.exception("stand-in handler failed for %s %s", req.method, req.path)
            resp, fault = (
                json_response(500, {"error": {"code": "InternalServerError", "message": f"stand-in error: {exc!r}"}}),
                None,
            )
        standin.log_request(req, resp.status)
        self._write(req, resp, cut=fault == "cut")

    def _write(self, req, resp, cut=False):
        body = resp.body
        headers = dict(resp.headers or {})
        headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
        if not isinstance(body, (bytes, bytearray)) and cut:
            body = b"".join(body)
        if cut and not body:
            # Nothing to cut in half: the response is lost entirely.
            # BaseHTTPRequestHandler's own flag (handle() sets it per request), hence outside __init__.
            self.close_connection = True  # pylint: disable=attribute-defined-outside-init
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        skip = {"transfer-encoding", "connection", "date", "server"}
        if req.method != "HEAD":
            skip.add("content-length")
        self.send_response(resp.status)
        for k, v in headers.items():
            if k.lower() not in skip:
                self.send_header(k, v)
        if req.method == "HEAD":
            if "content-length" not in {k.lower() for k in headers}:
                self.send_header("Content-Length", "0")
            self.end_headers()
            self.wfile.flush()
            return
        if not isinstance(body, (bytes, bytearray)):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in body:
                if piece:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        self.send_header("Content-Length", str(len(body)))
        if cut:
            self.send_header("Connection", "close")
        self.end_headers()
        if cut:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            # BaseHTTPRequestHandler's own flag (handle() sets it per request), hence outside __init__.
            self.close_connection = True  # pylint: disable=attribute-defined-outside-init
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if body:
            self.wfile.write(body)
        self.wfile.flush()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _dispatch


class _Tunnel:  # pylint: disable=too-few-public-methods  # started, then closed
    """An HTTP CONNECT proxy on loopback that stands in for DNS: a client that reaches a registry's
    login server (`<name>.azurecr.standin.local`) or a storage account's Files host
    (`<account>.file.core.standin.test`), names no resolver knows, through it
    (HTTPS_PROXY, with NO_PROXY for 127.0.0.1) is connected to the stand-in's own TLS port, whose
    certificate also names both; the request's Host routes it (StandIn._route).
    Any other host is refused (403): nothing leaves the machine."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._closed = False
        threading.Thread(target=self._accept, name="azure-standin-tunnel", daemon=True).start()

    def close(self):
        self._closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def _accept(self):
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        upstream = None
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 16384:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            method, target = (head.split(b"\r\n", 1)[0].decode("latin-1").split(" ") + ["", ""])[:2]
            host = target.rsplit(":", 1)[0].lower()
            # the registries' login servers, and the storage accounts' host-style Files names on 443
            # (az storage ... --account-name/--account-key; docs/standin.md "Host-style storage URLs")
            reachable = host.endswith("." + acr.LOGIN_SERVER_SUFFIX) or (
                _FILE_HOST.match(host) is not None and target.endswith(":443")
            )
            if method != "CONNECT" or not reachable:
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            pending = head.split(b"\r\n\r\n", 1)[1]
            if pending:
                upstream.sendall(pending)
            self._relay(conn, upstream)
        except OSError:
            pass
        finally:
            for s in (conn, upstream):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass

    @staticmethod
    def _relay(a, b):
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                events = sel.select(timeout=300)
                if not events:  # idle for 5 minutes: let the client reconnect
                    return
                for key, _ in events:
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        finally:
            sel.close()


# The stand-in's identity (ids, secrets), endpoints, services and fault switches: one object tests hold.
class StandIn:  # pylint: disable=too-many-instance-attributes
    """Local Azure: Entra sign-in, Resource Manager and Azure Files over HTTPS on 127.0.0.1."""

    def __init__(
        self,
        state_dir,
        faults: dict | None = None,
        port: int = 0,
        time_scale: float = 1.0,
        pull_mb_per_s=None,
        role_propagation_s: float = ROLE_PROPAGATION_S,
        la_ingestion_delay_s: float | None = None,
    ):  # pylint: disable=too-many-arguments
        """`time_scale` multiplies every Azure duration the container runtime plays (1.0 = Azure's);
        `pull_mb_per_s` turns on an image pull delay per image size (runtime/container_runtime.py);
        `role_propagation_s` (Azure seconds, x time_scale) passes between a role assignment's creation
        and its effect (providers/identity.py); `la_ingestion_delay_s` (Azure seconds, x `time_scale`;
        None: loganalytics.INGESTION_DELAY_S) passes before a Log Analytics row can be queried."""
        self.role_propagation_s = role_propagation_s
        self.la_ingestion_delay_s = la_ingestion_delay_s
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ids_path = self.state_dir / "ids.json"
        if ids_path.is_file():
            ids = json.loads(ids_path.read_text())
        else:
            ids = {
                "subscription_id": str(uuid.uuid4()),
                "tenant_id": str(uuid.uuid4()),
                "client_id": str(uuid.uuid4()),
                "sp_object_id": str(uuid.uuid4()),
                "client_secret": base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("="),
                "seed": base64.b64encode(os.urandom(32)).decode(),
            }
            ids_path.write_text(json.dumps(ids))
            ids_path.chmod(0o600)
        self.subscription_id = ids["subscription_id"]
        self.tenant_id = ids["tenant_id"]
        self.client_id = ids["client_id"]
        self.client_secret = ids["client_secret"]
        self.sp_object_id = ids["sp_object_id"]
        self.secret_seed = base64.b64decode(ids["seed"])
        self._port_wanted = port
        self.port = None
        self.url = None
        self.requests_log = []
        self._log_lock = threading.Lock()
        self.faults = Faults()
        if faults:
            self.set_faults(**faults)
        tls_dir = self.state_dir / "tls"
        self.ca_cert_path, self.ca_key_path = tls.make_ca(tls_dir)
        self.server_cert_path, self.server_key_path = tls.make_leaf(
            self.ca_cert_path,
            self.ca_key_path,
            tls_dir / "server.pem",
            tls_dir / "server.key",
            extra_dns=(f"*.{acr.LOGIN_SERVER_SUFFIX}", f"*.file.{STORAGE_SUFFIX}"),  # names the tunnel reaches
        )
        self.ca_bundle = str(self.ca_cert_path)
        self.entra = Entra(self)
        self.runtime = Runtime(
            self.state_dir, self.ca_cert_path, self.ca_key_path, time_scale=time_scale, pull_mb_per_s=pull_mb_per_s
        )
        self.arm = ResourceManager(self)
        self.runtime.pull_gate = functools.partial(pull_refusal, self.arm)
        # Container registry names other Azure customers hold (registry names are global): a test
        # sets it to see a name that is taken though this subscription has no such registry.
        self.taken_registry_names: set[str] = set()
        # Anonymous Docker Hub pulls left before imports from docker.io are refused toomanyrequests
        # (providers/container_registry.py); None: the limit is never reached.
        self.docker_hub_anonymous_pulls_left: int | None = None
        self._httpd = None
        self._thread = None
        self._tunnel = None
        self.proxy_url = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self):
        if self._httpd:
            return self
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.server_cert_path), str(self.server_key_path))
        self._httpd = _Server(("127.0.0.1", self._port_wanted or 0), _Handler, self, ctx)
        self.port = self._httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.arm.started()
        self._tunnel = _Tunnel(self.port)
        self.proxy_url = self._tunnel.url
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="azure-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self):
        if self._tunnel:
            self._tunnel.close()
            self._tunnel = None
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        self.arm.stopped()
        try:
            self.runtime.stop_all()
        except Exception:  # pylint: disable=broad-except  # stop() must finish: it is called on the way out
            log.exception("runtime.stop_all failed")
        if self._thread:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- helpers for tests and the demo -------------------------------------------------------
    def cloud_register_args(self):
        """`az cloud register` arguments for this cloud (aitk_testkit.az_harness.sign_in uses them)."""
        u = self.url
        return [
            "--endpoint-resource-manager",
            u,
            "--endpoint-active-directory",
            u,
            "--endpoint-active-directory-resource-id",
            f"{u}/",
            "--endpoint-active-directory-graph-resource-id",
            f"{u}/graph/",
            "--endpoint-management",
            f"{u}/",
            "--suffix-storage-endpoint",
            STORAGE_SUFFIX,
            "--suffix-keyvault-dns",
            ".vault.standin.local",
            "--suffix-acr-login-server-endpoint",
            ".azurecr.standin.local",
        ]

    def cloud_metadata(self):
        """ARM's /metadata/endpoints document for this cloud (az cloud register reads it)."""
        u = self.url
        return {
            "name": CLOUD_NAME,
            "portal": f"{u}/portal",
            "resourceManager": f"{u}/",
            "gallery": f"{u}/gallery/",
            "graph": f"{u}/graph/",
            "graphAudience": f"{u}/graph/",
            "microsoftGraphResourceId": f"{u}/graph/",
            "activeDirectoryDataLake": f"{u}/datalake/",
            "batch": f"{u}/batch/",
            "media": f"{u}/media/",
            "sqlManagement": f"{u}/sql/",
            "vmImageAliasDoc": f"{u}/vmimagealiases.json",
            "logAnalyticsResourceId": f"{u}/loganalytics",
            "appInsightsResourceId": f"{u}/appinsights",
            "appInsightsTelemetryChannelResourceId": f"{u}/aitelemetry",
            "ossrdbmsResourceId": f"{u}/ossrdbms",
            "attestationResourceId": f"{u}/attest",
            "synapseAnalyticsResourceId": f"{u}/synapse",
            "appServiceResourceId": f"{u}/appservice",
            "authentication": {
                "loginEndpoint": u,
                "audiences": [f"{u}/"],
                "tenant": "common",
                "identityProvider": "AAD",
            },
            "suffixes": {
                "acrLoginServer": "azurecr.standin.local",
                "keyVaultDns": "vault.standin.local",
                "storage": STORAGE_SUFFIX,
                "sqlServerHostname": "database.standin.local",
                "mhsmDns": "mhsm.standin.local",
                "attestationEndpoint": "attest.standin.local",
                "synapseAnalytics": "synapse.standin.local",
                "storageSyncEndpointSuffix": "afs.standin.local",
            },
        }

    def create_resource_group(self, name, location="eastus"):
        return self.arm.create_resource_group(name, location)

    def share_dir(self, storage_account, share) -> Path:
        return self.state_dir / "shares" / storage_account / share

    def set_faults(self, rate=0.1, seed=1, kinds=FAULT_KINDS, paths=None, latency_s=None):
        """Seeded faults on ARM and Files requests; `set_faults(1.0, kinds=("latency",), latency_s=0.02)`
        delays every request by 20 ms (a far-away region), `set_faults(None)` stops them."""
        self.faults.configure(rate, seed, kinds, paths, latency_s)

    def fail_next_update(self, resource_type, code, message):
        """The next PATCH of a resource of that type (Microsoft.App/containerApps or managedEnvironments)
        is accepted (202) and its operation then ends Failed with this error (arm/operations.py)."""
        self.arm.operations.fail_next_update(resource_type, code, message)

    def register_provider(self, ns):
        self.arm.set_provider(ns, True)

    def unregister_provider(self, ns):
        self.arm.set_provider(ns, False)

    # -- request path ------------------------------------------------------------------------
    def log_request(self, req, status):
        with self._log_lock:
            self.requests_log.append((req.method, req.raw_path, status))

    def _route(self, req: Request):  # pylint: disable=too-many-return-statements  # one per service
        host = (req.headers.get("Host") or "").rsplit(":", 1)[0].lower()
        if host.endswith("." + acr.LOGIN_SERVER_SUFFIX):
            return "acr"  # a registry's login server, reached through the tunnel
        first = req.path.lstrip("/").split("/", 1)[0].lower()
        if first in ("subscriptions", "tenants", "providers"):
            # Container Apps' console log stream (its own host in Azure)
            return "logstream" if logstream.matches(req) else "arm"
        if first == "metadata":
            return "metadata"
        if first == "loganalytics" and loganalytics.matches(req):
            return "loganalytics"
        if first and self.arm.storage_account(first) is not None:
            return "files"
        if self.entra.handles(req):
            return "auth"
        return None

    def serve_request(self, req: Request):
        kind = self._route(req)
        fault = None
        if kind in ("arm", "files"):
            drawn = self.faults.draw(req)
            if drawn:
                fault, latency = drawn
                if fault == "latency":
                    time.sleep(latency)
                    fault = None
                elif fault in ("429", "500", "503"):
                    return self._fault_response(kind, int(fault)), fault
        if kind == "auth":
            resp = self.entra.handle(req)
        elif kind == "arm":
            resp = self.arm.handle(req)
        elif kind == "files":
            resp = self._files(req)
        elif kind == "logstream":
            resp = logstream.handle(req, self)
        elif kind == "loganalytics":
            resp = loganalytics.handle(req, self)
        elif kind == "metadata":
            resp = json_response(200, self.cloud_metadata())
        elif kind == "acr":
            resp = acr.data_plane(self.arm, req, (req.headers.get("Host") or "").rsplit(":", 1)[0].lower())
        else:
            resp = json_response(404, {"error": {"code": "NotFound", "message": f"No route for {req.path}"}})
        return resp, fault

    def _fault_response(self, kind, status):
        headers = {"x-ms-error-code": {429: "ServerBusy", 500: "InternalError", 503: "ServerBusy"}[status]}
        if status in (429, 503):
            headers["Retry-After"] = "1"
        if kind == "files":
            msg = {
                429: "Operations per second is over the account limit.",
                500: "Server encountered an internal error. Please try again after some time.",
                503: "The server is currently unable to receive requests. Please retry your request.",
            }[status]
            code = {429: "ServerBusy", 500: "InternalError", 503: "ServerBusy"}[status]
            body = (
                f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
                f"<Message>{msg}\nRequestId:{uuid.uuid4()}\n"
                f"Time:{time.strftime('%Y-%m-%dT%H:%M:%S.0000000Z', time.gmtime())}</Message></Error>"
            ).encode()
            headers["Content-Type"] = "application/xml"
            return Response(status, headers, body)
        code = {429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}[status]
        msg = {
            429: "The request is being throttled.",
            500: "The server encountered an internal error.",
            503: "The service is unavailable.",
        }[status]
        return json_response(status, {"error": {"code": code, "message": msg}}, headers)

    def _files(self, req: Request) -> Response:
        account = req.path.lstrip("/").split("/", 1)[0].lower()
        key = self.arm.storage_key(account)

        def share_dir_fn(share):
            return self.arm.share_folder(account, share)

        return files_handle(
            req,
            key,
            share_dir_fn,
            shares_fn=lambda: self.arm.share_quotas(account),
        )
