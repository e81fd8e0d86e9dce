"""Where the API key may go: only to the container app's own ingress, over HTTPS.

The workspace's `ACA_APP_ENDPOINT` is a file anyone with write access to the workspace (a git
clone, a shared folder) can edit; the key must never follow it to another host or over plain
HTTP. The URL is built from the app's `configuration.ingress.fqdn` (read from Azure); the
file's value is only checked against it.
"""

from urllib.parse import urlsplit

from ..errors import EndpointError

SCHEME = "https"


def _host(netloc: str) -> str:
    """host[:port], lower case (DNS names are case-insensitive), no user info, no default port."""
    host = netloc.rsplit("@", 1)[-1].lower().rstrip(".")
    if host.endswith(":443"):
        host = host[: -len(":443")]
    return host


def app_url(fqdn: str | None, configured: str | None, config_file: str, app_name: str) -> str:
    """`https://<fqdn>` of the app; raises EndpointError when the app has no ingress FQDN, or
    when `configured` (ACA_APP_ENDPOINT, with or without a scheme) names another host, another
    scheme than https, or a path."""
    if not fqdn or not fqdn.strip():
        raise EndpointError(
            f"container app '{app_name}' has no ingress FQDN (external ingress is off), so there is no "
            "endpoint to call",
            "Run `az aitk inference provision` again: the template enables HTTPS ingress on port 8000.",
        )
    own = _host(fqdn.strip())
    if configured and configured.strip():
        value = configured.strip()
        parts = urlsplit(value if "://" in value else f"{SCHEME}://{value}")
        if parts.scheme.lower() != SCHEME:
            raise EndpointError(
                f"{config_file}: ACA_APP_ENDPOINT is {value!r}, not https: the API key is only sent over HTTPS",
                f"Set it to https://{own} (or run `az aitk inference provision` again to rewrite the file).",
            )
        if _host(parts.netloc) != own or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise EndpointError(
                f"{config_file}: ACA_APP_ENDPOINT {value!r} is not container app '{app_name}' "
                f"(its ingress is https://{own}); the API key is not sent there",
                f"Set it to https://{own} (or run `az aitk inference provision` again to rewrite the file).",
            )
    return f"{SCHEME}://{own}"
