"""The Log Analytics query API over what the container apps' environments send to a workspace
(https://learn.microsoft.com/rest/api/loganalytics/dataaccess/query/execute):

    POST {logAnalyticsResourceId}/v1/workspaces/{customerId}/query   {"query": "...", "timespan": ...}
    GET  {logAnalyticsResourceId}/v1/workspaces/{customerId}/query?query=...
    -> {"tables": [{"name": "PrimaryResult", "columns": [{"name", "type"}], "rows": [[...]]}]}

The stand-in's logAnalyticsResourceId is `{url}/loganalytics` (server.cloud_metadata). Rows come
from runtime/system_log.py (ContainerAppSystemLogs_CL, ContainerAppConsoleLogs_CL); a workspace
sees the apps of the environments whose appLogsConfiguration names its customerId.

KQL subset (one table, then any of these operators, in order):
`| where COL == 'v'` (also `!=`, `contains`, `has`, `=~`; and `COL > ago(5m)` with `>`, `>=`, `<`,
`<=` and a timespan of d/h/m/s/ms; several joined by `and`), `| order by COL [asc|desc]` / `sort by`,
`| take N` / `limit N`, `| project COL, COL`, `| summarize [NAME=]count() [by COL|bin(COL, SPAN), ...]`
(columns: the by-columns, then NAME or `count_`, as Kusto names them:
https://learn.microsoft.com/kusto/query/summarize-operator, .../count-aggregation-function,
.../ago-function, .../bin-function). Anything else is answered 400 BadArgumentError, as the
service answers a query it cannot parse.

Ingestion delay: a row is visible to queries only once INGESTION_DELAY_S (x the runtime's
time_scale) have passed since its TimeGenerated. Learn's "Log data ingestion time in Azure Monitor"
(https://learn.microsoft.com/azure/azure-monitor/logs/data-ingestion-time): "The average latency to
ingest log data is between 20 seconds and 3 minutes"; the stand-in plays the low end of that range,
the same for every row (`StandIn.arm`-independent: `standin.la_ingestion_delay_s` overrides it).
"""

import json
import re
from datetime import datetime, timedelta, timezone

from .http import Response, json_response
from .runtime import system_log

TABLES = (system_log.SYSTEM_TABLE, system_log.CONSOLE_TABLE)
PATH = re.compile(r"^/loganalytics/v1/workspaces/(?P<ws>[^/]+)/query/?$", re.I)
_COND = re.compile(r"^\s*(?P<col>\w+)\s*(?P<op>==|!=|=~|contains|has)\s*(?P<q>['\"])(?P<v>.*?)(?P=q)\s*$", re.I)
_SPAN = r"(?P<n>\d+(?:\.\d+)?)(?P<unit>ms|d|h|m|s)"
_AGO = re.compile(r"^\s*(?P<col>\w+)\s*(?P<op>>=|<=|>|<)\s*ago\(\s*" + _SPAN + r"\s*\)\s*$", re.I)
_UNIT_S = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_SUMMARIZE = re.compile(r"^(?:(?P<name>\w+)\s*=\s*)?count\(\s*\)\s*(?:by\s+(?P<by>.+))?$", re.I)
_BIN = re.compile(r"^bin\(\s*(?P<col>\w+)\s*,\s*" + _SPAN + r"\s*\)$", re.I)
# Learn, "Log data ingestion time in Azure Monitor": average latency "between 20 seconds and 3 minutes".
INGESTION_DELAY_S = 20.0


class QueryError(ValueError):
    pass


def matches(req) -> bool:
    return PATH.match(req.path) is not None


def _error(status, code, message):
    return json_response(status, {"error": {"code": code, "message": message}})


def _span_s(m) -> float:
    return float(m["n"]) * _UNIT_S[m["unit"].lower()]


def _time(value) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _where(rows, expr):
    conds = []
    for part in re.split(r"\s+and\s+", expr, flags=re.I):
        m = _COND.match(part)
        if m is not None:
            conds.append((m["col"], m["op"].lower(), m["v"]))
            continue
        m = _AGO.match(part)
        if m is None:
            raise QueryError(f"cannot parse the condition '{part.strip()}'")
        conds.append((m["col"], "ago" + m["op"], datetime.now(timezone.utc) - timedelta(seconds=_span_s(m))))

    def ok(row):
        for col, op, v in conds:
            if op.startswith("ago"):
                t = _time(row.get(col))
                cmp = op[3:]
                if t is None or not {">": t > v, ">=": t >= v, "<": t < v, "<=": t <= v}[cmp]:
                    return False
                continue
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
        elif word == "summarize":
            columns, rows = _summarize(rows, rest.strip(), op)
        else:
            raise QueryError(f"the operator '{word}' is not supported here")
    return columns, rows


def _column_type(col):
    if col == "TimeGenerated":
        return "datetime"
    if col.endswith("_d"):
        return "real"
    if col == "count_":
        return "long"
    return "string"


def _bin_value(value, span_s):
    t = _time(value)
    if t is None:
        return value
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    start = epoch + timedelta(seconds=(t - epoch).total_seconds() // span_s * span_s)
    return start.strftime("%Y-%m-%dT%H:%M:%SZ")


def _summarize(rows, rest, op):
    """`summarize [NAME=]count() [by COL|bin(COL, SPAN), ...]`: one row per distinct by-value tuple
    (in first-seen order), the by-columns then the count (default name `count_`)."""
    m = _SUMMARIZE.match(rest)
    if m is None:
        raise QueryError(f"cannot parse '{op}' (this subset has count() only)")
    keys = []
    for part in [p.strip() for p in re.split(r",(?![^()]*\))", m["by"] or "") if p.strip()]:
        b = _BIN.match(part)
        if b is not None:
            keys.append((b["col"], _span_s(b)))
        elif re.fullmatch(r"\w+", part):
            keys.append((part, None))
        else:
            raise QueryError(f"cannot parse the group '{part}'")
    # without `by`, one row even over no rows (count 0), as Kusto answers
    groups: dict[tuple, int] = {} if keys else {(): 0}
    for r in rows:
        key = tuple(r.get(c) if span is None else _bin_value(r.get(c), span) for c, span in keys)
        groups[key] = groups.get(key, 0) + 1
    name = m["name"] or "count_"
    columns = [c for c, _ in keys] + [name]
    return columns, [dict(zip(columns, [*k, n], strict=True)) for k, n in groups.items()]


def _ingested(rows, delay_s):
    """The rows whose ingestion delay has passed (TimeGenerated + delay <= now)."""
    if delay_s <= 0:
        return rows
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=delay_s)
    out = []
    for r in rows:
        t = _time(r.get("TimeGenerated"))
        if t is None or t <= cutoff:
            out.append(r)
    return out


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

    delay = getattr(standin, "la_ingestion_delay_s", None)
    delay_s = (INGESTION_DELAY_S if delay is None else float(delay)) * standin.runtime.time_scale

    def rows_of(table):
        rows = [r for r in system_log.read_rows(standin.runtime.la_dir, table) if r["_ResourceId"].lower() in app_ids]
        return _ingested(rows, delay_s)

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
                    "columns": [{"name": c, "type": _column_type(c)} for c in columns],
                    "rows": [[r.get(c) for c in columns] for r in rows],
                }
            ]
        },
    )
