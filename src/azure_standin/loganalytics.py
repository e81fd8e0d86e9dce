"""The Log Analytics query API over what the container apps' environments send to a workspace
(https://learn.microsoft.com/rest/api/loganalytics/dataaccess/query/execute):

    POST {logAnalyticsResourceId}/v1/workspaces/{customerId}/query   {"query": "...", "timespan": ...}
    GET  {logAnalyticsResourceId}/v1/workspaces/{customerId}/query?query=...
    -> {"tables": [{"name": "PrimaryResult", "columns": [{"name", "type"}], "rows": [[...]]}]}

The stand-in's logAnalyticsResourceId is `{url}/loganalytics` (server.cloud_metadata). Rows come
from runtime/system_log.py (ContainerAppSystemLogs_CL, ContainerAppConsoleLogs_CL); a workspace
sees the apps of the environments whose appLogsConfiguration names its customerId.

KQL subset (one table, then any of these operators, in order):
`| where COL == 'v'` (also `!=`, `contains`, `has`, `=~`; several joined by `and`),
`| order by COL [asc|desc]` / `sort by`, `| take N` / `limit N`, `| project COL, COL`.
Anything else is answered 400 BadArgumentError, as the service answers a query it cannot parse.
"""

import json
import re

from .http import Response, json_response
from .runtime import system_log

TABLES = (system_log.SYSTEM_TABLE, system_log.CONSOLE_TABLE)
PATH = re.compile(r"^/loganalytics/v1/workspaces/(?P<ws>[^/]+)/query/?$", re.I)
_COND = re.compile(r"^\s*(?P<col>\w+)\s*(?P<op>==|!=|=~|contains|has)\s*(?P<q>['\"])(?P<v>.*?)(?P=q)\s*$", re.I)


class QueryError(ValueError):
    pass


def matches(req) -> bool:
    return PATH.match(req.path) is not None


def _error(status, code, message):
    return json_response(status, {"error": {"code": code, "message": message}})


def _where(rows, expr):
    conds = []
    for part in re.split(r"\s+and\s+", expr, flags=re.I):
        m = _COND.match(part)
        if m is None:
            raise QueryError(f"cannot parse the condition '{part.strip()}'")
        conds.append((m["col"], m["op"].lower(), m["v"]))

    def ok(row):
        for col, op, v in conds:
            have = str(row.get(col, ""))
            if op == "==" and have != v:
                return False
            if op == "!=" and have == v:
                return False
            if op == "=~" and have.lower() != v.lower():
                return False
            if op in ("contains", "has") and v.lower() not in have.lower():
                return False
        return True

    return [r for r in rows if ok(r)]


def run_query(query: str, rows_of) -> tuple[list[str], list[dict]]:
    """(columns, rows) of `query`; rows_of(table) gives a table's rows."""
    parts = [p.strip() for p in query.strip().rstrip(";").split("|")]
    table = parts[0]
    if table not in TABLES:
        raise QueryError(f"'{table}' is not a table of this workspace (tables: {', '.join(TABLES)})")
    rows = rows_of(table)
    columns = sorted({k for r in rows for k in r if k != "_ResourceId"}) or ["TimeGenerated", "Log_s"]
    for op in parts[1:]:
        word, _, rest = op.partition(" ")
        word = word.lower()
        if word == "where":
            rows = _where(rows, rest)
        elif word in ("order", "sort"):
            m = re.match(r"^by\s+(\w+)(?:\s+(asc|desc))?\s*$", rest.strip(), re.I)
            if m is None:
                raise QueryError(f"cannot parse '{op}'")
            rows = sorted(rows, key=lambda r, c=m[1]: str(r.get(c, "")), reverse=(m[2] or "desc").lower() == "desc")
        elif word in ("take", "limit"):
            if not rest.strip().isdigit():
                raise QueryError(f"cannot parse '{op}'")
            rows = rows[: int(rest)]
        elif word == "project":
            columns = [c.strip() for c in rest.split(",") if c.strip()]
        else:
            raise QueryError(f"the operator '{word}' is not supported here")
    return columns, rows


def handle(req, standin) -> Response:
    m = PATH.match(req.path)
    auth = req.headers.get("Authorization") or ""
    if not auth.startswith("Bearer ") or standin.entra.verify(auth[7:].strip()) is None:
        return _error(401, "InvalidAuthenticationTokenAudience", "A valid bearer token is required.")
    if req.method == "POST":
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            return _error(400, "BadArgumentError", "The request body is not JSON.")
        query = body.get("query") or ""
    else:
        query = req.query.get("query") or ""
    ws = m["ws"].lower()
    if not any(
        r["type"].lower() == "microsoft.operationalinsights/workspaces" and r["private"]["customerId"] == ws
        for r in standin.arm.res.values()
    ):
        return _error(404, "WorkspaceNotFoundError", f"The workspace {m['ws']} could not be found.")
    app_ids = set()
    for rec in list(standin.arm.res.values()):
        if rec["type"].lower() != "microsoft.app/containerapps":
            continue
        env = standin.arm.get_record(rec["body"]["properties"].get("managedEnvironmentId") or "")
        la = ((env or {}).get("body", {}).get("properties", {}).get("appLogsConfiguration") or {}).get(
            "logAnalyticsConfiguration"
        ) or {}
        if (la.get("customerId") or "").lower() == ws:
            app_ids.add(rec["id"].lower())

    def rows_of(table):
        return [r for r in system_log.read_rows(standin.runtime.la_dir, table) if r["_ResourceId"].lower() in app_ids]

    try:
        columns, rows = run_query(query, rows_of)
    except QueryError as e:
        return _error(400, "BadArgumentError", f"The request had some invalid properties: {e}.")
    return json_response(
        200,
        {
            "tables": [
                {
                    "name": "PrimaryResult",
                    "columns": [{"name": c, "type": "real" if c.endswith("_d") else "string"} for c in columns],
                    "rows": [[r.get(c) for c in columns] for r in rows],
                }
            ]
        },
    )
