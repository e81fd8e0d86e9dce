"""`az aitk inference chat`: config and key from the workspace and the app, then the chat."""

import sys

from ..azure import container_app, model_server
from ..core.endpoint import chat_session, wake
from ..core.errors import ChatError
from ._config import app_url, load_config
from ._startup_watch import failure_probe
from ._wake import served_models, wake_endpoint


def inference_chat(
    cmd, *, workspace=None, model=None, system=None, temperature=None, max_tokens=None, message=None, wait=None
):
    chat_session.validate_options(temperature, max_tokens)
    wake.validate_wait(wait)
    if message is not None and not message.strip():
        raise ChatError("--message is empty", 'Give the text to send, e.g. --message "Hello".')
    if model is not None and not model.strip():
        raise ChatError("--model is empty", "Give a model the endpoint serves, or leave --model out for the base.")
    ws, cfg = load_config(cmd, workspace)
    aca = container_app.ContainerApp.from_config(cmd.cli_ctx, cfg)
    url = app_url(ws, cfg, aca.get())  # a missing app: one clear error
    key = aca.api_key()
    # a scaled-to-zero app starts on this request: wait for it, saying so; a start-up failure ends the wait
    wake_endpoint(url, wait, failed=failure_probe(cmd.cli_ctx, aca))
    models = served_models(url, key)
    chosen = chat_session.pick_model(models, model)
    conv = chat_session.Conversation(chosen, system=system, temperature=temperature, max_tokens=max_tokens)

    def write(text):
        sys.stdout.write(text)
        sys.stdout.flush()

    def send(body, on_piece):
        return model_server.stream_chat(url, key, body, on_piece)

    if message is not None:
        # On a terminal, model output must not drive it (core/chat_session.visible); into a
        # file or pipe it goes as the model wrote it.
        shown = (lambda piece: write(chat_session.visible(piece))) if sys.stdout.isatty() else write
        try:
            send(conv.request(message), shown)
        except KeyboardInterrupt:
            write("\n")
            raise ChatError("the reply was interrupted") from None
        write("\n")
        return None

    try:
        import readline  # noqa: F401  pylint: disable=unused-import
    except ImportError:
        pass
    banner = (
        f"Chatting with {chat_session.visible_line(chosen)} at {url} "
        "(Ctrl-C stops a reply, Ctrl-D or /exit leaves, /help lists commands)."
    )
    chat_session.run_terminal(conv, send, input, write, banner=banner, models=models)
    return None
