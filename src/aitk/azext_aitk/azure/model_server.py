"""Talking to the running server (vLLM's OpenAI API behind the container app's HTTPS ingress).

Uses `requests` (az ships it; the openai package is not there), which verifies TLS with the
system CA bundle (or REQUESTS_CA_BUNDLE).
"""

import json
import time

from ..core.endpoint import wake
from ..core.endpoint.chat_session import sse_deltas
from ..core.errors import ChatError


class ServerError(Exception):
    pass


def _headers(key):
    return {"Authorization": f"Bearer {key}"} if key else {}


def _get(url, key, path, timeout):
    import requests

    return requests.get(url.rstrip("/") + path, headers=_headers(key), timeout=timeout)


def health(url, timeout=5.0):
    """True when /health answers 200."""
    import requests

    try:
        return _get(url, None, "/health", timeout).status_code == 200
    except requests.RequestException:
        return False


def probe_health(url, timeout):
    """One GET /health: (status, body text), or (None, why) when nothing answered in `timeout`
    seconds. Through the ingress, this request also starts a scaled-to-zero app."""
    import requests

    try:
        r = _get(url, None, "/health", timeout)
    except requests.RequestException as e:
        return None, type(e).__name__
    return r.status_code, (r.text or "")[:200]


def list_model_cards(url, key, timeout=10.0):
    """The model cards of /v1/models (dicts with "id"; vLLM adds "max_model_len"); raises
    ServerError when it cannot tell."""
    import requests

    try:
        r = _get(url, key, "/v1/models", timeout)
    except requests.RequestException as e:
        raise ServerError(f"{url} did not answer ({type(e).__name__})") from None
    if r.status_code != 200:
        raise ServerError(f"{url}/v1/models answered {r.status_code}")
    try:
        cards = [m for m in r.json().get("data", []) if isinstance(m, dict) and isinstance(m.get("id"), str)]
    except (ValueError, TypeError, AttributeError):
        raise ServerError(f"{url}/v1/models did not answer a model list") from None
    return cards


def list_models(url, key, timeout=10.0):
    """Model ids from /v1/models; raises ServerError when it cannot tell."""
    return [m["id"] for m in list_model_cards(url, key, timeout)]


def count_prompt_tokens(url, key, model, prompt, timeout=60.0):
    """The tokens `prompt` is to `model`, from vLLM's POST /tokenize ({"count": N}); None when the
    server does not say (no such route, an error)."""
    import requests

    try:
        r = requests.post(
            url.rstrip("/") + "/tokenize",
            headers=_headers(key),
            json={"model": model, "prompt": prompt},
            timeout=timeout,
        )
        count = r.json().get("count") if r.status_code == 200 else None
    except (requests.RequestException, ValueError, AttributeError):
        return None
    return count if isinstance(count, int) and count > 0 else None


def serving(url, key, timeout=15.0):
    """What the running server reports it runs (aitk_serve/serving_state.py): a dict; {} from a
    server older than the report (404); None when it cannot tell (no answer, refused)."""
    import requests
    from aitk_serve import serving_state

    try:
        r = _get(url, key, serving_state.ROUTE, timeout)
    except requests.RequestException:
        return None
    if r.status_code == 404:
        return {}
    if r.status_code != 200:
        return None
    try:
        body = r.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def load_adapter(url, key, name, share_path, timeout=120.0):
    """POST /v1/load_lora_adapter with a share-relative path (docs/contracts.md).
    Returns (ok, detail)."""
    import requests

    try:
        r = requests.post(
            url.rstrip("/") + "/v1/load_lora_adapter",
            headers=_headers(key),
            json={"lora_name": name, "lora_path": share_path},
            timeout=timeout,
        )
    except requests.RequestException as e:
        return False, type(e).__name__
    return r.status_code == 200, f"{r.status_code} {r.text[:200]}"


def unload_adapter(url, key, name, timeout=60.0):
    import requests

    try:
        r = requests.post(
            url.rstrip("/") + "/v1/unload_lora_adapter",
            headers=_headers(key),
            json={"lora_name": name},
            timeout=timeout,
        )
    except requests.RequestException as e:
        return False, type(e).__name__
    return r.status_code == 200, f"{r.status_code} {r.text[:200]}"


def check_model(url, key, model, timeout=300.0):
    """One greedy one-token completion naming `model` (an adapter is loaded on demand by the replica
    that gets it). Returns (ok, detail): detail is the server's own reason when it refuses."""
    import requests

    try:
        r = requests.post(
            url.rstrip("/") + "/v1/completions",
            headers=_headers(key),
            json={"model": model, "prompt": "Hello", "max_tokens": 1, "temperature": 0},
            timeout=timeout,
        )
    except requests.RequestException as e:
        return False, f"{url} did not answer ({type(e).__name__})"
    if r.status_code == 200:
        return True, ""
    return False, f"{r.status_code} {_error_detail(r)}"


def wait_down(url, grace, interval=0.5, clock=time.monotonic, sleep=time.sleep):
    """After a restart: wait until /health stops answering 200, at most `grace` seconds (a quick
    restart may never be seen down)."""
    deadline = clock() + grace
    while clock() < deadline:
        if not health(url, timeout=max(0.5, min(2.0, deadline - clock()))):
            return True
        sleep(interval)
    return False


def wait_ready(
    url, key, expected, timeout, *, interval=3.0, tick=None, clock=time.monotonic, sleep=time.sleep, poll_timeout=30.0
):
    """Wait until /health is 200 and /v1/models lists every expected name.
    Returns the model list; raises ServerError with the last state on timeout. `poll_timeout`
    bounds each /health call (the ingress holds a request to a starting replica, so a short one
    lets `tick` run often)."""
    deadline = clock() + timeout
    last = "no answer yet"
    while True:
        if health(url, timeout=min(poll_timeout, max(1.0, deadline - clock()))):
            try:
                models = list_models(url, key, timeout=30.0)
                missing = sorted(set(expected) - set(models))
                if models and not missing:
                    return models
                last = f"models listed: {', '.join(models) or 'none'}; waiting for {', '.join(missing) or 'any'}"
            except ServerError as e:
                last = str(e)
        else:
            last = "/health does not answer 200 yet"
        if tick:
            tick(last)
        if clock() >= deadline:
            raise ServerError(last)
        sleep(min(interval, max(0.0, deadline - clock())))


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


def chat_once(url, key, body, timeout=(15.0, 600.0), *, session=None, clock=time.monotonic):
    """POST one non-streamed chat completion. Returns {"text", "promptTokens", "completionTokens",
    "latencySeconds", "finishReason"}; ChatError with the server's reason when it refuses."""
    import requests

    http = session or requests
    start = clock()
    try:
        resp = http.post(url.rstrip("/") + "/v1/chat/completions", json=body, headers=_headers(key), timeout=timeout)
    except requests.RequestException as e:
        raise ChatError(
            f"{url} did not answer ({type(e).__name__})",
            "A scaled-to-zero endpoint needs a while to start: `az aitk inference status` shows where it is.",
        ) from None
    latency = clock() - start
    if resp.status_code != 200:
        raise ChatError(f"the server answered {resp.status_code} for model {body.get('model')}: {_error_detail(resp)}")
    try:
        reply = resp.json()
        choice = reply["choices"][0]
        usage = reply.get("usage") or {}
        return {
            "text": (choice.get("message") or {}).get("content") or "",
            "promptTokens": int(usage.get("prompt_tokens") or 0),
            "completionTokens": int(usage.get("completion_tokens") or 0),
            "latencySeconds": round(latency, 4),
            "finishReason": choice.get("finish_reason"),
        }
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise ChatError(f"the server's answer for model {body.get('model')} is not a chat completion") from None


def stream_chat(url, key, body, on_piece, timeout=(15.0, 600.0), *, session=None):
    """POST the body to /v1/chat/completions and call on_piece(text) for each streamed piece;
    returns the whole reply. A KeyboardInterrupt while streaming closes the connection and
    propagates (the caller keeps what came so far: it is passed in the exception's `partial`
    attribute)."""
    import requests

    http = session or requests
    headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"} if key else {}
    pieces = []
    try:
        resp = http.post(
            url.rstrip("/") + "/v1/chat/completions", json=body, headers=headers, stream=True, timeout=timeout
        )
    except requests.RequestException as e:
        raise ChatError(
            f"{url} did not answer ({type(e).__name__})",
            "A scaled-to-zero endpoint needs a while to start: `az aitk inference status` shows where it is.",
        ) from None
    try:
        if resp.status_code in (502, 503, 504):  # the ingress's, not the server's: explain, never raw
            raise ChatError(
                f"the reply did not come: {wake.explain(resp.status_code, resp.text)}",
                "Send it again (the replica keeps starting); `az aitk inference status` shows where it is.",
            )
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
