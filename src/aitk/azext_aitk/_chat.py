"""`az aitk inference chat`: config and key from the workspace and the app, then chat.py."""
import sys

from . import chat as chat_mod
from . import server_api
from . import workspace as ws_mod
from ._app import get_app, get_key, load_config


def run(cmd, workspace=None, model=None, system=None, temperature=None, max_tokens=None,
        message=None):
    chat_mod.validate_options(temperature, max_tokens)
    if message is not None and not message.strip():
        raise chat_mod.ChatError("--message is empty", "Give the text to send, e.g. --message \"Hello\".")
    _, cfg = load_config(cmd, workspace)
    aca, _app = get_app(cmd, cfg)
    key = get_key(aca, cfg)
    url = cfg[ws_mod.ACA_APP_ENDPOINT].rstrip("/")
    try:
        models = server_api.list_models(url, key, timeout=120.0)
    except server_api.ServerError as e:
        raise chat_mod.ChatError(f"the endpoint is not serving: {e}",
                                 "`az aitk inference status` shows why; a scaled-to-zero app "
                                 "needs a while to load the model after the first request.") from None
    chosen = chat_mod.pick_model(models, model)
    conv = chat_mod.Conversation(chosen, system=system, temperature=temperature, max_tokens=max_tokens)

    def write(text):
        sys.stdout.write(text)
        sys.stdout.flush()

    def send(body, on_piece):
        return chat_mod.stream_reply(url, key, body, on_piece)

    if message is not None:
        try:
            send(conv.request(message), write)
        except KeyboardInterrupt:
            write("\n")
            raise chat_mod.ChatError("the reply was interrupted") from None
        write("\n")
        return None

    try:
        import readline  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
    except ImportError:
        pass
    banner = (f"Chatting with {chosen} at {url} (Ctrl-C stops a reply, Ctrl-D or /exit leaves).")
    chat_mod.run_terminal(conv, send, input, write, banner=banner)
    return None
