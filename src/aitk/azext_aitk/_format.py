"""`-o table` output: for a terminal, so every string in it (model names, answers and errors
come from the server) goes through the neutralising chat uses for replies (visible_line)."""

from collections import OrderedDict

from .core.endpoint.chat_session import visible_line, visible_names


def _safe(rows):
    """`rows` with every key and string value shown as it is safe on a terminal line."""
    return [
        OrderedDict((visible_line(k), visible_line(v) if isinstance(v, str) else v) for k, v in row.items())
        for row in rows
    ]


def endpoint_table_format(result):
    row = OrderedDict()
    row["Url"] = result.get("url")
    row["State"] = result.get("state")
    row["Models"] = visible_names(result.get("models") or [])
    if result.get("apiKey"):
        row["ApiKey"] = result["apiKey"]
    return _safe([row])


def status_table_format(result):
    row = OrderedDict()
    row["App"] = result.get("app")
    row["Revision"] = result.get("revision")
    row["State"] = result.get("revisionState")
    row["Replicas"] = result.get("replicas")
    row["Gpu"] = result.get("gpuProfile") or "-"
    row["Scale"] = f"{result.get('minReplicas')}-{result.get('maxReplicas')}"
    row["Ready"] = "yes" if result.get("ready") else "no"
    row["Models"] = visible_names(result.get("models") or [])
    if result.get("error"):
        row["Error"] = result["error"]
    return _safe([row])


def _short(text, width=60):
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def compare_table_format(result):
    """One row per prompt, one column per model (answers on one line, cut to fit side by side)."""
    rows = []
    for prompt in result.get("prompts") or []:
        row = OrderedDict()
        row["Prompt"] = _short(prompt.get("prompt"), 40)
        for answer in prompt.get("answers") or []:
            text = "(same as base)" if answer.get("sameAsBase") else _short(answer.get("text"))
            row[answer.get("model")] = (
                f"{text} [{answer.get('completionTokens')} tok, {answer.get('latencySeconds'):.2f} s]"
            )
        rows.append(row)
    return _safe(rows)


def bench_table_format(result):
    """One row per concurrency level."""
    rows = []
    for level in result.get("levels") or []:
        row = OrderedDict()
        row["Concurrency"] = level.get("concurrency")
        row["Requests"] = level.get("requests")
        row["Failed"] = level.get("failed")
        row["OutputTok/s"] = level.get("outputTokensPerSecond")
        row["TtftP50"] = level.get("ttftP50")
        row["TtftP95"] = level.get("ttftP95")
        row["LatencyP50"] = level.get("latencyP50")
        row["LatencyP95"] = level.get("latencyP95")
        cost = level.get("costPerMillionOutputTokens")
        row["$/MOutputTok"] = "-" if cost is None else cost
        rows.append(row)
    return _safe(rows)
