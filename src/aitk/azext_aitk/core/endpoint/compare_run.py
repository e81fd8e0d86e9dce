"""`az aitk inference compare`: the prompts file, the models to ask, the result and its HTML page.

Plain Python: azure/model_server.py sends the requests. A prompts file is either JSONL (every
non-blank line a JSON list of chat messages, or an object with a "messages" list) or plain text
(every non-blank line one user prompt); the first non-blank line decides which.
"""

import html
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import CompareError
from .chat_session import visible_names

MAX_PROMPTS = 200  # every prompt goes to every model, one at a time: keep a run short
ROLES = ("system", "user", "assistant")
FORMAT_HINT = (
    "Write one prompt per line (plain text), or JSONL: per line one JSON list of chat messages, "
    "each an object with a role and a text content, the last one the user's."
)


def _messages_of(value: Any, where: str) -> list[dict[str, str]]:
    if isinstance(value, dict) and "messages" in value:
        value = value["messages"]
    if not isinstance(value, list) or not value:
        raise CompareError(f"{where}: expected a non-empty JSON list of chat messages", FORMAT_HINT)
    messages = []
    for m in value:
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise CompareError(
                f"{where}: every message needs a role ({', '.join(ROLES)}) and a text content", FORMAT_HINT
            )
        messages.append({"role": m["role"], "content": m["content"]})
    if messages[-1]["role"] != "user":
        raise CompareError(f"{where}: the last message must be the user's (the one to answer)", FORMAT_HINT)
    return messages


def parse_prompts(text: str, source: str) -> list[list[dict[str, str]]]:
    """The conversations in a prompts file's text (`source` names the file in errors)."""
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise CompareError(f"{source} has no prompts", FORMAT_HINT)
    if len(lines) > MAX_PROMPTS:
        raise CompareError(
            f"{source} has {len(lines)} prompts, more than {MAX_PROMPTS}",
            "Split it: compare asks every model every prompt, one at a time.",
        )
    jsonl = lines[0][1][0] in "[{"
    conversations = []
    for n, line in lines:
        if not jsonl:
            conversations.append([{"role": "user", "content": line}])
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            raise CompareError(
                f"{source} line {n} is not JSON ({e.msg}); the first line made it a JSONL file", FORMAT_HINT
            ) from None
        conversations.append(_messages_of(value, f"{source} line {n}"))
    return conversations


def read_prompts(path: str) -> list[list[dict[str, str]]]:
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CompareError(f"the prompts file {path} does not exist", FORMAT_HINT) from None
    except (OSError, UnicodeDecodeError) as e:
        raise CompareError(f"cannot read the prompts file {path}: {e}", "Give a UTF-8 text file.") from None
    return parse_prompts(text, path)


def pick_models(served: Sequence[str], wanted: Sequence[str] | None) -> list[str]:
    """The base model (the first the server lists) and then each wanted adapter (default: every
    other model the server lists), without repeats."""
    if not served:
        raise CompareError(
            "the endpoint lists no models", "Run `az aitk inference deploy` and wait until it reports the models."
        )
    base = served[0]
    if wanted is None:
        return list(dict.fromkeys(served))
    unknown = [m for m in wanted if m not in served]
    if unknown:
        raise CompareError(
            f"not served by the endpoint: {visible_names(unknown)}; it serves: {visible_names(served)}",
            "Pick from those, or push the adapter with `az aitk inference deploy --adapter NAME=PATH`.",
        )
    return list(dict.fromkeys([base, *wanted]))


def check_report_path(path: str | None) -> Path | None:
    """The report's path, checked before any request is sent (nothing half-done)."""
    if path is None:
        return None
    file = Path(path).expanduser()
    if file.suffix.lower() not in (".html", ".htm"):
        raise CompareError(f"--report {path}: the report is an HTML page", "Name it FILE.html.")
    if file.is_dir():
        raise CompareError(f"--report {path} is a folder", "Name a file, e.g. compare.html.")
    if not file.parent.is_dir():
        raise CompareError(f"--report {path}: the folder {file.parent} does not exist", "Create it first.")
    # Whether the folder takes a new file, tried for real (permission bits say nothing for root, a
    # read-only mount or /sys): the report is written beside it and renamed over it.
    probe = file.with_name(f".{file.name}.{os.getpid()}.probe")
    try:
        with probe.open("x", encoding="utf-8"):
            pass
        probe.unlink()
    except OSError as e:
        raise CompareError(
            f"--report {path}: cannot write in {file.parent} ({e.strerror or e})",
            "Name a file in a folder you can write, e.g. --report compare.html.",
        ) from None
    return file


def request_body(model: str, messages: list[dict[str, str]], max_tokens: int, temperature: float) -> dict[str, Any]:
    """A chat completion request; temperature 0 is greedy (the same answer every run)."""
    return {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": temperature}


def result(
    endpoint: str,
    models: list[str],
    conversations: list[list[dict[str, str]]],
    answers: list[list[dict[str, Any]]],
    *,
    max_tokens: int,
    temperature: float,
) -> dict[str, Any]:
    """The command's output. answers[i][j]: prompt i, model j: {"text", "promptTokens",
    "completionTokens", "latencySeconds", "finishReason"}; each gets "sameAsBase" (models[0])."""
    prompts = []
    for messages, row in zip(conversations, answers, strict=True):
        base_text = row[0]["text"]
        prompts.append(
            {
                "prompt": messages[-1]["content"],
                "messages": messages,
                "answers": [
                    {"model": model, **answer, "sameAsBase": j > 0 and answer["text"] == base_text}
                    for j, (model, answer) in enumerate(zip(models, row, strict=True))
                ],
            }
        )
    return {
        "endpoint": endpoint,
        "baseModel": models[0],
        "models": models,
        "temperature": temperature,
        "maxTokens": max_tokens,
        "prompts": prompts,
    }


def _cell(answer: dict[str, Any]) -> str:
    stats = f"{answer['completionTokens']} tokens, {answer['latencySeconds']:.2f} s"
    same = ' <span class="same">same as base</span>' if answer.get("sameAsBase") else ""
    return f'<td><div class="answer">{html.escape(answer["text"])}</div><div class="stats">{stats}{same}</div></td>'


def html_report(res: dict[str, Any]) -> str:
    """A self-contained page (no scripts, no outside resources): one row per prompt, one column
    per model, each answer with its tokens and latency. Every text from the prompts file or the
    server is escaped."""
    head = "".join(f"<th>{html.escape(m)}</th>" for m in res["models"])
    rows = []
    for p in res["prompts"]:
        context = "".join(
            f'<div class="msg"><strong>{html.escape(m["role"])}</strong>: {html.escape(m["content"])}</div>'
            for m in p["messages"]
        )
        rows.append(f"<tr><td>{context}</td>{''.join(_cell(a) for a in p['answers'])}</tr>")
    totals = []
    for j in range(len(res["models"])):
        answers = [p["answers"][j] for p in res["prompts"]]
        tokens = sum(a["completionTokens"] for a in answers)
        latency = sum(a["latencySeconds"] for a in answers) / len(answers)
        totals.append(f"<td>{tokens} tokens, mean {latency:.2f} s</td>")
    settings = f"temperature {res['temperature']}, at most {res['maxTokens']} tokens an answer"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>aitk compare</title><style>"
        "body{font-family:system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse;width:100%}"
        "th,td{border:1px solid #ccc;padding:.5em;vertical-align:top;text-align:left}"
        ".answer{white-space:pre-wrap}.stats{color:#666;font-size:.85em;margin-top:.4em}"
        ".same{color:#a60}.msg{white-space:pre-wrap}"
        "</style></head><body>"
        f"<h1>Compare: {html.escape(res['baseModel'])} and its adapters</h1>"
        f"<p>{html.escape(res['endpoint'])}; {html.escape(settings)}</p>"
        f"<table><thead><tr><th>prompt</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
        f"<tfoot><tr><th>total</th>{''.join(totals)}</tr></tfoot></table></body></html>\n"
    )


def write_report(path: Path, res: dict[str, Any]) -> None:
    """Write the page whole (a temporary file renamed over the target)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(html_report(res), encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def save_report(path: Path, res: dict[str, Any], fallback_dir: Path) -> tuple[Path, str | None]:
    """Write the report to `path`; when that fails after all the answers were fetched (the folder
    went away or turned read-only meanwhile), to a new file in `fallback_dir` instead, so no
    answer is lost. (where it was written, why not at `path` or None)."""
    try:
        write_report(path, res)
        return path, None
    except OSError as e:
        why = e.strerror or str(e)
    fd, name = tempfile.mkstemp(prefix="aitk-compare-", suffix=".html", dir=fallback_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(html_report(res))
    return Path(name), why
