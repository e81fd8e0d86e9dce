"""Azurite, Microsoft's storage emulator (npm `azurite`, installed by the Makefile under
.venv/node), as the Blob data plane of weights in Blob (issue 18), and what the Run:ai Model
Streamer needs to read from it the way it reads from Azure:

- Over TLS, with production-style host names. The streamer's C++ client (runai-model-streamer-azure
  0.17.0, libstreamerazure.so) builds `https://{AZURE_STORAGE_ACCOUNT_NAME}.{AZURE_STORAGE_ENDPOINT_SUFFIX}`
  (its log: "Using custom endpoint suffix: ..."); its release build reads no connection string (that
  path is compiled only with -DAZURITE_TESTING: cpp/azure/client_configuration in
  run-ai/runai-model-streamer). With the suffix `blob.localhost:PORT` the URL is
  `https://{account}.blob.localhost:PORT`, which its libcurl resolves to loopback (curl treats
  `*.localhost` as loopback) and Azurite serves: it takes the account from the host name
  ("production-style URL", Azurite's README) and serves TLS with `--cert/--key`.
- Bearer tokens: the C++ SDK refuses a bearer token over plain http ("Bearer token authentication is
  not permitted for non TLS protected (https) endpoints"), which is why the earlier attempt over
  http could not work; Azurite checks tokens with `--oauth basic` (issuer, audience, nbf/exp; no
  signature: Azurite's BlobTokenAuthenticator).
- The test CA: the streamer's statically linked libcurl reads only its compiled-in bundle
  /etc/ssl/certs/ca-certificates.crt (SSL_CERT_FILE and CURL_CA_BUNDLE are not read: tried), and
  Python's resolver does not map `*.localhost` to loopback (glibc's files+dns). So a process that
  reads from Azurite runs in its own mount namespace (`unshare --mount`, private propagation: the
  host's files are untouched) where the system bundle plus the test CA is bind-mounted over that
  path and /etc/hosts gains `{account}.blob.localhost`. `isolated()` gives that command prefix.
- The managed identity: `ManagedIdentityEndpoint` answers the App Service / Container Apps token
  protocol (IDENTITY_ENDPOINT + IDENTITY_HEADER, api-version 2019-08-01:
  https://learn.microsoft.com/azure/container-apps/managed-identity#rest-endpoint-reference), which
  both the streamer's C++ DefaultAzureCredential and Python's azure-identity use when those two
  variables are set. Its tokens carry the claims Azurite checks; Azurite does no RBAC, so a role
  not granted is played in front of it by `DenyingBlobFront` (403 AuthorizationPermissionMismatch,
  as Blob answers a principal without a data role).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .local_http import JsonHandler

SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
STORAGE_AUDIENCE = "https://storage.azure.com"
# A 64-byte key, as Azure's are; Azurite takes account:key pairs from AZURITE_ACCOUNTS.
TEST_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def azurite_bin() -> Path:
    """azurite-blob as `make venv` installs it (npm --prefix .venv/node)."""
    here = Path(
        os.environ.get("AITK_AZURITE_BIN") or Path(sys.prefix) / "node" / "node_modules" / ".bin" / "azurite-blob"
    )
    return here


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _leaf_for_blob(ca_cert_path: Path, ca_key_path: Path, cert_path: Path, key_path: Path) -> None:
    """A server certificate for 127.0.0.1, localhost and *.blob.localhost, signed by the test CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    names.append(x509.DNSName("*.blob.localhost"))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "blob.localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=29))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"azurite-blob exited {proc.returncode}:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"azurite-blob did not listen on {port} within {timeout:.0f} s")


class Azurite:
    """azurite-blob on loopback: TLS with a throw-away CA, OAuth (`--oauth basic`), one account."""

    def __init__(self, workdir: Path, account: str = "aitkweights01"):
        from azure_standin import tls

        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.account = account
        self.key = base64.b64encode(secrets.token_bytes(64)).decode()
        certs = self.workdir / "tls"
        self.ca, ca_key = tls.make_ca(certs)
        self.cert, self.cert_key = certs / "blob.pem", certs / "blob.key"
        _leaf_for_blob(self.ca, ca_key, self.cert, self.cert_key)
        self.bundle = self.workdir / "ca-bundle.crt"
        system = Path(SYSTEM_BUNDLE).read_bytes() if Path(SYSTEM_BUNDLE).is_file() else b""
        self.bundle.write_bytes(system + b"\n" + self.ca.read_bytes())
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None
        self.log = self.workdir / "azurite.log"

    @property
    def endpoint_suffix(self) -> str:
        return f"blob.localhost:{self.port}"

    @property
    def host(self) -> str:
        return f"{self.account}.blob.localhost"

    def start(self) -> Azurite:
        binary = azurite_bin()
        if not binary.exists():
            raise RuntimeError(f"{binary} is missing: `make venv` installs it with npm (the Makefile pins its version)")
        env = {**os.environ, "AZURITE_ACCOUNTS": f"{self.account}:{self.key}"}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
                [
                    str(binary),
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    str(self.port),
                    "--cert",
                    str(self.cert),
                    "--key",
                    str(self.cert_key),
                    "--oauth",
                    "basic",
                    "--location",
                    str(self.workdir / "data"),
                    "--disableTelemetry",
                    "--silent",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_port(self.port, self.proc, self.log)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the test process's own client (path-style on 127.0.0.1: no name to resolve) --------------
    def service(self, port: int | None = None):
        from azure.storage.blob import BlobServiceClient

        conn = (
            f"DefaultEndpointsProtocol=https;AccountName={self.account};AccountKey={self.key};"
            f"BlobEndpoint=https://127.0.0.1:{port or self.port}/{self.account};"
        )
        return BlobServiceClient.from_connection_string(conn, connection_verify=str(self.ca))

    def upload_folder(self, folder: Path, container: str, prefix: str) -> list[str]:
        svc = self.service()
        cc = svc.get_container_client(container)
        if not cc.exists():
            cc.create_container()
        names = []
        for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            name = f"{prefix.strip('/')}/{path.relative_to(folder).as_posix()}"
            with open(path, "rb") as f:
                cc.get_blob_client(name).upload_blob(f, overwrite=True, max_concurrency=4)
            names.append(name)
        return names

    # -- what a reader process needs ------------------------------------------------------------
    def hosts_file(self, port_hosts: list[str] | None = None) -> Path:
        path = self.workdir / "hosts"
        base = Path("/etc/hosts").read_text() if Path("/etc/hosts").is_file() else ""
        extra = " ".join([self.host, *(port_hosts or [])])
        path.write_text(f"{base.rstrip()}\n127.0.0.1 {extra}\n")
        return path

    def isolated(self) -> list[str]:
        """The command prefix that runs a reader in its own mount namespace with the test CA in the
        system bundle and the account's host name in /etc/hosts (see the module's docstring)."""
        hosts = self.hosts_file()
        script = (
            f"mount --bind {shlex.quote(str(self.bundle))} {SYSTEM_BUNDLE} && "
            f'mount --bind {shlex.quote(str(hosts))} /etc/hosts && exec "$@"'
        )
        unshare = shutil.which("unshare") or "unshare"
        user_ns = [] if os.geteuid() == 0 else ["--map-root-user"]
        return [unshare, *user_ns, "--mount", "--propagation", "private", "sh", "-c", script, "sh"]

    def reader_env(self, endpoint_suffix: str | None = None) -> dict[str, str]:
        """The streamer's and azure-storage-blob's settings for this account (no key: the identity
        endpoint's bearer tokens authenticate)."""
        return {
            "AZURE_STORAGE_ACCOUNT_NAME": self.account,
            "AZURE_STORAGE_ENDPOINT_SUFFIX": endpoint_suffix or self.endpoint_suffix,
            "REQUESTS_CA_BUNDLE": str(self.bundle),
        }


def _jwt(claims: dict) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"typ": "JWT", "alg": "RS256", "kid": "aitk-test"}).encode())
    return f"{header}.{b64(json.dumps(claims).encode())}.{b64(secrets.token_bytes(32))}"


class ManagedIdentityEndpoint:
    """The app's system-assigned identity as Container Apps serves it to a replica: GET
    IDENTITY_ENDPOINT?resource=...&api-version=2019-08-01 with the X-IDENTITY-HEADER secret
    (https://learn.microsoft.com/azure/container-apps/managed-identity#rest-endpoint-reference).
    `requests` counts the tokens handed out, by resource."""

    def __init__(self, principal_id: str | None = None, tenant: str = TEST_TENANT):
        self.principal_id = principal_id or str(uuid.uuid4())
        self.tenant = tenant
        self.secret = secrets.token_hex(16)
        self.requests: list[str] = []
        outer = self

        class Handler(JsonHandler):
            def do_GET(self):  # noqa: N802  (http.server's name)
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                if self.headers.get("X-IDENTITY-HEADER") != outer.secret:
                    return self.send_json(401, {"error": "invalid_request", "error_description": "X-IDENTITY-HEADER"})
                if query.get("api-version") != ["2019-08-01"] or not query.get("resource"):
                    return self.send_json(
                        400, {"error": "invalid_request", "error_description": "api-version, resource"}
                    )
                resource = query["resource"][0]
                outer.requests.append(resource)
                now = int(time.time())
                token = _jwt(
                    {
                        "aud": resource.rstrip("/").removesuffix("/.default"),
                        "iss": f"https://sts.windows.net/{outer.tenant}/",
                        "iat": now - 60,
                        "nbf": now - 60,
                        "exp": now + 3600,
                        "oid": outer.principal_id,
                        "sub": outer.principal_id,
                        "tid": outer.tenant,
                        "appid": outer.principal_id,
                    }
                )
                return self.send_json(
                    200,
                    {
                        "access_token": token,
                        "expires_on": str(now + 3600),
                        "resource": resource,
                        "token_type": "Bearer",
                        "client_id": outer.principal_id,
                    },
                )

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/msi/token"

    def env(self) -> dict[str, str]:
        return {"IDENTITY_ENDPOINT": self.url, "IDENTITY_HEADER": self.secret}

    def __enter__(self) -> ManagedIdentityEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class DenyingBlobFront:
    """Blob's answer to a principal that holds no data role, in front of nothing: every request gets
    403 AuthorizationPermissionMismatch (https://learn.microsoft.com/rest/api/storageservices/blob-service-error-codes).
    Azurite checks a token but has no role-based access control, so the role not granted is played
    here, on the same TLS name and certificate (point AZURE_STORAGE_ENDPOINT_SUFFIX at `endpoint_suffix`)."""

    def __init__(self, azurite: Azurite):
        import ssl

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _deny(self):
                body = (
                    b'<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthorizationPermissionMismatch</Code>'
                    b"<Message>This request is not authorized to perform this operation using this permission."
                    b"</Message></Error>"
                )
                self.send_response(403)
                self.send_header("Content-Type", "application/xml")
                self.send_header("x-ms-error-code", "AuthorizationPermissionMismatch")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_HEAD = do_PUT = _deny  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(azurite.cert), str(azurite.cert_key))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint_suffix(self) -> str:
        return f"blob.localhost:{self.server.server_address[1]}"

    def __enter__(self) -> DenyingBlobFront:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
