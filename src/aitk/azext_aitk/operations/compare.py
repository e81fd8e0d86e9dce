"""`az aitk inference compare`: the same prompts to the base model and each adapter, side by side."""

import tempfile
from pathlib import Path

from knack.log import get_logger

from ..azure import container_app, model_server
from ..core import options
from ..core.endpoint import chat_session, compare_run
from ._config import app_url, load_config
from ._wake import served_models, wake_endpoint

logger = get_logger(__name__)


def inference_compare(cmd, prompts, *, models=None, max_tokens=None, temperature=None, report=None, workspace=None):  # pylint: disable=too-many-locals
    max_tokens = options.COMPARE_MAX_TOKENS if max_tokens is None else max_tokens
    temperature = 0.0 if temperature is None else temperature  # greedy: the same answers every run
    chat_session.validate_options(temperature, max_tokens)
    conversations = compare_run.read_prompts(prompts)
    report_path = compare_run.check_report_path(report)
    ws, cfg = load_config(cmd, workspace)
    aca = container_app.ContainerApp.from_config(cmd.cli_ctx, cfg)
    url = app_url(ws, cfg, aca.get())  # the key goes only to the app's own HTTPS ingress
    key = aca.api_key()
    wake_endpoint(url, None)  # a scaled-to-zero app starts on this request: wait for it, saying so
    served = served_models(url, key)
    chosen = compare_run.pick_models(served, models)

    controller = cmd.cli_ctx.get_progress_controller(det=True)
    total, done = len(conversations) * len(chosen), 0
    answers = []
    try:
        for messages in conversations:
            row = []
            for model in chosen:
                controller.add(message=f"Asking {chat_session.visible_line(model)}", value=done, total_val=total)
                body = compare_run.request_body(model, messages, max_tokens, temperature)
                row.append(model_server.chat_once(url, key, body))
                done += 1
            answers.append(row)
        controller.add(message="Done", value=total, total_val=total)
    finally:
        controller.end()
    res = compare_run.result(url, chosen, conversations, answers, max_tokens=max_tokens, temperature=temperature)
    if report_path is not None:
        written, why = compare_run.save_report(report_path, res, Path(tempfile.gettempdir()))
        if why:
            logger.warning("Could not write the report to %s (%s); wrote it to %s instead", report_path, why, written)
        else:
            logger.warning("Report: %s", written)
    return res
