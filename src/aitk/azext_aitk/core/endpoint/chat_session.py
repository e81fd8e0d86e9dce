"""`az aitk inference chat`: the conversation, the SSE stream of its replies, the terminal loop.

Plain Python: azure/model_server.py sends the requests. The terminal loop takes its input
and output as functions so it can be driven without a terminal; the real terminal is tested
under a pty.
"""

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..errors import ChatError

EXIT_WORDS = ("/exit", "/quit")
# Slash commands the chat handles itself (never sent to the model); `//text` sends "/text".
SLASH_HELP = """Commands (never sent to the model):
  /help          this list
  /exit, /quit   leave the chat (Ctrl-D does too)
  /clear         forget the conversation so far (the system message stays)
  /model NAME    talk to another model the endpoint serves: {models}
  /system TEXT   set the system message (/system alone removes it)
  //text         send "/text" to the model
"""

__all__ = [
    "ChatError",
    "Conversation",
    "EXIT_WORDS",
    "pick_model",
    "run_terminal",
    "slash_command",
    "sse_deltas",
    "validate_options",
    "visible",
    "visible_line",
    "visible_names",
]


def visible(text: str) -> str:
    """`text` safe to print on a terminal: newline and tab as they are, carriage returns
    dropped, every other control character (C0, DEL, C1: they move the cursor, clear the
    screen or retitle the window) shown in caret or \\x notation."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in "\n\t":
            out.append(ch)
        elif ch == "\r":
            continue
        elif code < 0x20:
            out.append("^" + chr(code + 0x40))
        elif code == 0x7F:
            out.append("^?")
        elif 0x80 <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    return "".join(out)


def visible_line(text: object) -> str:
    """`text` (a model name, a table cell: anything the server supplied) safe on one line of a
    terminal: like `visible`, and newline, tab and carriage return shown as ^J, ^I, ^M too."""
    return visible(str(text).replace("\r", "^M").replace("\n", "^J").replace("\t", "^I"))


def visible_names(names: Iterable[str]) -> str:
    """Model names as one terminal-safe list ("-" when none)."""
    return ", ".join(visible_line(n) for n in names) or "-"


def sse_deltas(lines: Iterable[str | bytes]) -> Iterator[str]:
    """Text pieces from an OpenAI-style SSE stream of chat completion chunks (an iterable of
    str or bytes lines). Stops at `data: [DONE]`; skips comments, blank lines and chunks
    without content. An `error` object in the stream raises ChatError."""
    for raw in lines:
        line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        line = line.rstrip("\r\n")
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        if not data:
            continue
        try:
            chunk = json.loads(data)
        except ValueError:
            continue
        if not isinstance(chunk, dict):
            continue
        if chunk.get("error"):
            err = chunk["error"]
            detail = err.get("message", err) if isinstance(err, dict) else err
            raise ChatError(f"the server stopped the reply: {detail}")
        for choice in chunk.get("choices") or []:
            piece = ((choice or {}).get("delta") or {}).get("content")
            if piece:
                yield piece


class Conversation:
    """The messages of one chat session and the request body for the next turn."""

    def __init__(
        self, model: str, system: str | None = None, temperature: float | None = None, max_tokens: int | None = None
    ) -> None:
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []

    def request(self, user_text: str) -> dict[str, Any]:
        """The body for a reply to user_text (the history is not changed until `record`)."""
        body: dict[str, Any] = {
            "model": self.model,
            "stream": True,
            "messages": self.messages + [{"role": "user", "content": user_text}],
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        return body

    def clear(self) -> None:
        """Forget the turns; the system message stays."""
        self.messages = [m for m in self.messages if m["role"] == "system"]

    def set_system(self, system: str | None) -> None:
        """Replace the system message (None or "": no system message)."""
        turns = [m for m in self.messages if m["role"] != "system"]
        self.messages = ([{"role": "system", "content": system}] if system else []) + turns

    def record(self, user_text: str, reply: str) -> None:
        """Keep a turn; an interrupted reply is kept as far as it came (what the user saw)."""
        self.messages.append({"role": "user", "content": user_text})
        self.messages.append({"role": "assistant", "content": reply})


def validate_options(temperature: float | None = None, max_tokens: int | None = None) -> None:
    """Raise ChatError for values the server would reject."""
    if temperature is not None and not 0.0 <= temperature <= 2.0:
        raise ChatError(f"--temperature {temperature} is out of range", "Use a value from 0 to 2.")
    if max_tokens is not None and max_tokens < 1:
        raise ChatError(f"--max-tokens {max_tokens} must be at least 1", "Use a positive number.")


def pick_model(models: list[str], wanted: str | None = None) -> str:
    """The model to talk to: `wanted` when the server lists it, else the first (the base)."""
    if not models:
        raise ChatError(
            "the endpoint lists no models", "Run `az aitk inference deploy` and wait until it reports the models."
        )
    if wanted is None:
        return models[0]
    if wanted in models:
        return wanted
    raise ChatError(
        f"model '{visible_line(wanted)}' is not served; the endpoint serves: {visible_names(models)}",
        "Pick one of those, or push the adapter with `az aitk inference deploy --adapter NAME=PATH`.",
    )


def slash_command(conversation: Conversation, text: str, models: list[str]) -> tuple[bool, str | None]:
    """Handle a slash command locally: (leave the chat?, what to print). Raises ChatError for an
    unknown command or a model the endpoint does not serve."""
    word, _, rest = text.partition(" ")
    word, rest = word.lower(), rest.strip()
    if word in EXIT_WORDS:
        return True, None
    if word == "/help":
        return False, SLASH_HELP.format(models=visible_names(models))
    if word == "/clear":
        conversation.clear()
        return False, "(conversation cleared)\n"
    if word == "/model":
        if not rest:
            return False, f"(model: {visible_line(conversation.model)}; the endpoint serves: {visible_names(models)})\n"
        conversation.model = pick_model(models, rest) if models else rest
        return False, f"(now talking to {visible_line(conversation.model)})\n"
    if word == "/system":
        conversation.set_system(rest or None)
        return False, "(system message set)\n" if rest else "(system message removed)\n"
    raise ChatError(f"unknown command {word}", "/help lists the commands; //text sends a line that starts with /.")


def run_terminal(
    conversation: Conversation,
    send: Callable[[dict[str, Any], Callable[[str], None]], str],
    read_line: Callable[[str], str],
    write: Callable[[str], None],
    *,
    banner: str | None = None,
    models: list[str] | None = None,
) -> int:
    """The interactive loop. send(body, on_piece) -> reply text; read_line(prompt) -> str
    (raises EOFError at the end of input, KeyboardInterrupt on Ctrl-C); write(text).
    Ctrl-C during a reply stops it and returns to the prompt; Ctrl-C at the prompt clears the
    line; EOF or /exit ends the chat; other slash commands (slash_command) are handled here.
    Model output is printed through `visible`. Returns the number of turns."""
    turns = 0
    served = list(models or [])
    if banner:
        write(banner + "\n")

    def show(piece: str) -> None:
        write(visible(piece))

    while True:
        try:
            text = read_line("you> ")
        except EOFError:
            write("\n")
            return turns
        except KeyboardInterrupt:
            write("\n(Ctrl-D or /exit leaves the chat)\n")
            continue
        text = text.strip()
        if not text:
            continue
        if text.startswith("//"):
            text = text[1:]
        elif text.startswith("/"):
            try:
                leave, said = slash_command(conversation, text, served)
            except ChatError as e:
                write(f"[error] {e}" + (f" {e.recommendation}" if e.recommendation else "") + "\n")
                continue
            if leave:
                return turns
            if said:
                write(said)
            continue
        write("model> ")
        try:
            reply = send(conversation.request(text), show)
        except KeyboardInterrupt as e:
            reply = getattr(e, "partial", "")
            write("\n[stopped]\n")
            conversation.record(text, reply)
            turns += 1
            continue
        except ChatError as e:
            write(f"\n[error] {e}\n")
            continue
        write("\n")
        conversation.record(text, reply)
        turns += 1
