"""Microsoft Entra ID, as far as MSAL (inside the real az) uses it: OIDC metadata, instance
discovery and the client-credentials token endpoint. Tokens are HS256 JWTs signed with a key
only the stand-in knows; ARM accepts only those."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from urllib.parse import parse_qs

from ..http import Request, Response, json_response


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Entra:
    def __init__(self, standin):
        self.s = standin
        self.signing_key = standin.secret_seed + b"/jwt"

    # -- tokens ------------------------------------------------------------------------------
    def issue(self, audience: str, tenant: str) -> str:
        now = int(time.time())
        claims = {
            "aud": audience,
            "iss": f"{self.s.url}/{tenant}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "tid": tenant,
            "oid": self.s.sp_object_id,
            "sub": self.s.sp_object_id,
            "appid": self.s.client_id,
            "azp": self.s.client_id,
            "idtyp": "app",
            "ver": "2.0",
            "uti": uuid.uuid4().hex,
        }
        head = _b64(json.dumps({"typ": "JWT", "alg": "HS256", "kid": "standin"}).encode())
        body = _b64(json.dumps(claims).encode())
        sig = _b64(hmac.new(self.signing_key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        return f"{head}.{body}.{sig}"

    def verify(self, token: str):
        """Claims of a valid unexpired token of ours, else None."""
        try:
            head, body, sig = token.split(".")
            want = _b64(hmac.new(self.signing_key, f"{head}.{body}".encode(), hashlib.sha256).digest())
            if not hmac.compare_digest(want, sig):
                return None
            claims = json.loads(_unb64(body))
            return claims if claims.get("exp", 0) > time.time() else None
        # Not three parts, bad base64/JSON/UTF-8 (ValueError), a non-ASCII signature or a non-numeric
        # exp (TypeError), claims that are not an object (AttributeError): not a token of ours.
        except (ValueError, TypeError, AttributeError):
            return None

    # -- endpoints ---------------------------------------------------------------------------
    def handles(self, req: Request) -> bool:
        parts = [p for p in req.path.split("/") if p]
        if not parts:
            return False
        if parts[:3] == ["common", "discovery", "instance"]:
            return True
        if len(parts) >= 2 and parts[1] in ("v2.0", "oauth2", ".well-known", "discovery"):
            return True
        return False

    def handle(self, req: Request) -> Response:
        parts = [p for p in req.path.split("/") if p]
        base = self.s.url
        if parts[:3] == ["common", "discovery", "instance"]:
            auth_ep = req.query.get("authorization_endpoint", "")
            tenant = "common"
            try:
                tenant = auth_ep.split("//", 1)[1].split("/")[1]
            except IndexError:  # no tenant segment in the authorization endpoint: keep "common"
                pass
            return json_response(
                200,
                {
                    "tenant_discovery_endpoint": f"{base}/{tenant}/v2.0/.well-known/openid-configuration",
                    "api-version": "1.1",
                    "metadata": [
                        {
                            "preferred_network": f"127.0.0.1:{self.s.port}",
                            "preferred_cache": f"127.0.0.1:{self.s.port}",
                            "aliases": [f"127.0.0.1:{self.s.port}"],
                        }
                    ],
                },
            )
        tenant = parts[0]
        tenant_id = self.s.tenant_id if tenant in ("common", "organizations") else tenant
        rest = parts[1:]
        if rest in (["v2.0", ".well-known", "openid-configuration"], [".well-known", "openid-configuration"]):
            v = "/v2.0" if rest[0] == "v2.0" else ""
            return json_response(
                200,
                {
                    "token_endpoint": f"{base}/{tenant}/oauth2{v}/token",
                    "token_endpoint_auth_methods_supported": [
                        "client_secret_post",
                        "private_key_jwt",
                        "client_secret_basic",
                    ],
                    "jwks_uri": f"{base}/{tenant}/discovery{v}/keys",
                    "response_modes_supported": ["query", "fragment", "form_post"],
                    "subject_types_supported": ["pairwise"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                    "scopes_supported": ["openid", "profile", "email", "offline_access"],
                    "issuer": f"{base}/{tenant_id}{v}",
                    "request_uri_parameter_supported": False,
                    "userinfo_endpoint": f"{base}/oidc/userinfo",
                    "authorization_endpoint": f"{base}/{tenant}/oauth2{v}/authorize",
                    "device_authorization_endpoint": f"{base}/{tenant}/oauth2{v}/devicecode",
                    "http_logout_supported": True,
                    "frontchannel_logout_supported": True,
                    "end_session_endpoint": f"{base}/{tenant}/oauth2{v}/logout",
                    "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "oid"],
                    "tenant_region_scope": "NA",
                    "cloud_instance_name": "standin.local",
                    "cloud_graph_host_name": "graph.standin.local",
                    "msgraph_host": "graph.standin.local",
                    "rbac_url": base,
                },
            )
        if rest and rest[0] == "discovery":
            return json_response(200, {"keys": []})
        if rest[-1:] == ["token"] and req.method == "POST":
            return self._token(req, tenant_id)
        return json_response(
            404, {"error": "not_found", "error_description": f"AADSTS90002: no such endpoint {req.path}"}
        )

    def _token(self, req: Request, tenant: str) -> Response:
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        auth = req.headers.get("Authorization", "")
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if auth.lower().startswith("basic "):
            try:
                from urllib.parse import unquote

                cid, _, sec = base64.b64decode(auth[6:]).decode().partition(":")
                client_id, secret = unquote(cid), unquote(sec)
            except ValueError:  # bad base64 or UTF-8: the form's client_id/client_secret stand
                pass

        def err(code, status, desc):
            return json_response(
                status,
                {
                    "error": code,
                    "error_description": desc,
                    "error_codes": [7000215],
                    "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ"),
                    "trace_id": str(uuid.uuid4()),
                    "correlation_id": str(uuid.uuid4()),
                },
            )

        if tenant != self.s.tenant_id:
            return err("invalid_request", 400, f"AADSTS90002: Tenant '{tenant}' not found.")
        grant = form.get("grant_type")
        if grant != "client_credentials":
            return err(
                "unsupported_grant_type", 400, f"AADSTS70003: grant type {grant!r} is not supported by the stand-in."
            )
        if client_id != self.s.client_id:
            return err(
                "unauthorized_client",
                400,
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the directory.",
            )
        if secret != self.s.client_secret:
            return err("invalid_client", 401, "AADSTS7000215: Invalid client secret provided.")
        scope = form.get("scope", "")
        resource = scope.split()[0] if scope else form.get("resource", self.s.url + "/")
        if resource.endswith("/.default"):
            resource = resource[: -len(".default")]
        token = self.issue(resource, tenant)
        return json_response(
            200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}
        )
