"""The app's system log (as `az containerapp logs show --type system` reads it) and its logs kept in
Log Analytics (the query API), for when no replica is left to stream from."""

import json

from knack.log import get_logger

from ..core.monitor import console_log
from . import arm

logger = get_logger(__name__)


def events(cli_ctx, app_json, subscription_id, resource_group, name, *, tail=100):
    """The app's recent system log events (dicts); [] when the stream cannot be read."""
    import requests

    props = app_json.get("properties") or {}
    url = console_log.eventstream_url(props.get("eventStreamEndpoint"), subscription_id, resource_group, name)
    token = arm.log_stream_token(cli_ctx, app_json["id"])
    try:
        resp = requests.get(
            url,
            params={"follow": "false", "output": "json", "tailLines": tail},
            headers={"Authorization": f"Bearer {token}"},
            timeout=(15.0, 60.0),
        )
    except requests.RequestException:
        logger.debug("system log stream did not answer", exc_info=True)
        return []
    if resp.status_code != 200:
        logger.debug("system log stream answered %s", resp.status_code)
        return []
    out = []
    for line in resp.text.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, dict):
            out.append(ev)
    return out


def query(cli_ctx, customer_id, kql):
    """Rows (dicts) of a Log Analytics query against the workspace `customer_id`; [] when it fails."""
    import requests
    from azure.cli.core._profile import Profile

    endpoint = (cli_ctx.cloud.endpoints.log_analytics_resource_id or "").rstrip("/")
    if not endpoint or not customer_id:
        return []
    try:
        token = Profile(cli_ctx=cli_ctx).get_raw_token(resource=endpoint)[0][1]
        resp = requests.post(
            f"{endpoint}/v1/workspaces/{customer_id}/query",
            json={"query": kql},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60.0,
        )
    except Exception:  # pylint: disable=broad-except  # a fallback source: never fatal
        logger.debug("Log Analytics query failed", exc_info=True)
        return []
    if resp.status_code != 200:
        logger.debug("Log Analytics answered %s: %s", resp.status_code, resp.text[:200])
        return []
    tables = resp.json().get("tables") or []
    if not tables:
        return []
    cols = [c["name"] for c in tables[0].get("columns") or []]
    return [dict(zip(cols, row, strict=False)) for row in tables[0].get("rows") or []]


def console_from_log_analytics(cli_ctx, customer_id, app_name, revision=None, take=100):
    """The console lines Log Analytics kept for the app (oldest first)."""
    where = f"ContainerAppName_s == '{app_name}'" + (f" and RevisionName_s == '{revision}'" if revision else "")
    rows = query(
        cli_ctx, customer_id, f"ContainerAppConsoleLogs_CL | where {where} | order by TimeGenerated desc | take {take}"
    )
    return [str(r.get("Log_s") or "") for r in reversed(rows)]


def system_from_log_analytics(cli_ctx, customer_id, app_name, take=100):
    rows = query(
        cli_ctx,
        customer_id,
        f"ContainerAppSystemLogs_CL | where ContainerAppName_s == '{app_name}' "
        f"| order by TimeGenerated desc | take {take}",
    )
    return [{"TimeStamp": r.get("TimeGenerated"), "Reason": r.get("Reason_s"), "Msg": r.get("Log_s")} for r in rows][
        ::-1
    ]
