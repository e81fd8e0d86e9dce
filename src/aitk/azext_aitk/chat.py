"""`az aitk inference chat`: a streaming chat with the endpoint's /v1/chat/completions.

Plain Python with `requests` (az ships it; the openai package is not there). TLS is verified
with the system CA bundle or REQUESTS_CA_BUNDLE. The terminal loop takes its input and output
as functions so it can be driven without a terminal; the real terminal is tested under a pty.
"""
import json

EXIT_WORDS = ("/exit", "/quit")


class ChatError(Exception):
    """The server refused or broke off a chat request."""

    def __init__(self, message, recommendation=None):
        super().__init__(message)
        self.recommendation = recommendation


def sse_deltas(lines):
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
            raise ChatError(f"the server stopped the reply: {err.get('message', err) if isinstance(err, dict) else err}")
        for choice in chunk.get("choices") or []:
            piece = ((choice or {}).get("delta") or {}).get("content")
            if piece:
                yield piece


class Conversation:
    """The messages of one chat session and the request body for the next turn."""

    def __init__(self, model, system=None, temperature=None, max_tokens=None):
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.messages = [{"role": "system", "content": system}] if system else []

    def request(self, user_text):
        """The body for a reply to user_text (the history is not changed until `record`)."""
        body = {"model": self.model, "stream": True,
                "messages": self.messages + [{"role": "user", "content": user_text}]}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        return body

    def record(self, user_text, reply):
        """Keep a turn; an interrupted reply is kept as far as it came (what the user saw)."""
        self.messages.append({"role": "user", "content": user_text})
        self.messages.append({"role": "assistant", "content": reply})


def validate_options(temperature=None, max_tokens=None):
    """Raise ChatError for values the server would reject."""
    if temperature is not None and not 0.0 <= temperature <= 2.0:
        raise ChatError(f"--temperature {temperature} is out of range", "Use a value from 0 to 2.")
    if max_tokens is not None and max_tokens < 1:
        raise ChatError(f"--max-tokens {max_tokens} must be at least 1", "Use a positive number.")


def pick_model(models, wanted=None):
    """The model to talk to: `wanted` when the server lists it, else the first (the base)."""
    if not models:
        raise ChatError("the endpoint lists no models",
                        "Run `az aitk inference deploy` and wait until it reports the models.")
    if wanted is None:
        return models[0]
    if wanted in models:
        return wanted
    raise ChatError(f"model '{wanted}' is not served; the endpoint serves: {', '.join(models)}",
                    "Pick one of those, or push the adapter with `az aitk inference deploy --adapter NAME=PATH`.")


def _error_detail(resp):
    try:
        body = resp.json()
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            return err.get("message") or json.dumps(err)
        if err:
            return str(err)
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    except ValueError:
        pass
    return (resp.text or "")[:200].strip()


def stream_reply(url, key, body, on_piece, timeout=(15.0, 600.0), session=None):
    """POST the body and call on_piece(text) for each streamed piece; returns the whole reply.
    A KeyboardInterrupt while streaming closes the connection and propagates (the caller keeps
    what came so far: it is passed in the exception's `partial` attribute)."""
    import requests
    http = session or requests
    headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"} if key else {}
    pieces = []
    try:
        resp = http.post(url.rstrip("/") + "/v1/chat/completions", json=body, headers=headers,
                         stream=True, timeout=timeout)
    except requests.RequestException as e:
        raise ChatError(f"{url} did not answer ({type(e).__name__})",
                        "A scaled-to-zero endpoint needs a while to start: "
                        "`az aitk inference status` shows where it is.") from None
    try:
        if resp.status_code != 200:
            raise ChatError(f"the server answered {resp.status_code}: {_error_detail(resp)}")
        try:
            for piece in sse_deltas(resp.iter_lines(chunk_size=1)):
                pieces.append(piece)
                on_piece(piece)
        except KeyboardInterrupt as e:
            e.partial = "".join(pieces)
            raise
        except requests.RequestException as e:
            raise ChatError(f"the reply broke off ({type(e).__name__})") from None
    finally:
        resp.close()
    return "".join(pieces)


def run_terminal(conversation, send, read_line, write, banner=None):
    """The interactive loop. send(body, on_piece) -> reply text; read_line(prompt) -> str
    (raises EOFError at the end of input, KeyboardInterrupt on Ctrl-C); write(text).
    Ctrl-C during a reply stops it and returns to the prompt; Ctrl-C at the prompt clears the
    line; EOF or /exit ends the chat. Returns the number of turns."""
    turns = 0
    if banner:
        write(banner + "\n")
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
        if text.lower() in EXIT_WORDS:
            return turns
        write("model> ")
        try:
            reply = send(conversation.request(text), write)
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
