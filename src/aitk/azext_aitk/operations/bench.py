"""`az aitk inference bench`: a concurrency sweep against the workspace's own endpoint."""

import time

from knack.log import get_logger

from ..azure import container_app, load_generator, model_server
from ..core import options
from ..core.endpoint import bench_plan, chat_session
from ..core.errors import BenchError
from ..core.monitor.status_summary import running_replicas
from ..core.provision import scale_rule
from ._config import app_url, load_config
from ._wake import served_model_cards, wake_endpoint

logger = get_logger(__name__)


def inference_bench(
    cmd,
    *,
    concurrency=None,
    requests=None,
    prompt_tokens=None,
    output_tokens=None,
    max_seconds=None,
    model=None,
    price_per_hour=None,
    workspace=None,
    apply_scale_rule=False,
):  # pylint: disable=too-many-locals
    plan = bench_plan.plan(
        concurrency,
        requests,
        options.BENCH_PROMPT_TOKENS if prompt_tokens is None else prompt_tokens,
        options.BENCH_OUTPUT_TOKENS if output_tokens is None else output_tokens,
        max_seconds,
    )
    load_generator.check_client()
    ws, cfg = load_config(cmd, workspace)
    aca = container_app.ContainerApp.from_config(cmd.cli_ctx, cfg)
    app = aca.get()
    url = app_url(ws, cfg, app)  # only the app's own HTTPS ingress is loaded (and gets the key)
    profile = aca.workload_profile(app)
    per_second, price_source = bench_plan.price(profile, price_per_hour)
    key = aca.api_key()
    wake_endpoint(url, None)  # a scaled-to-zero app starts on this request: wait for it, saying so
    cards = served_model_cards(url, key)
    chosen = chat_session.pick_model([c["id"] for c in cards], model)
    context = bench_plan.context_of(cards, chosen)
    if context is not None:  # a short context: fit the defaults to it (given values that cannot fit: refused)
        plan, note = bench_plan.fit_to_context(
            plan,
            chat_session.visible_line(chosen),
            context,
            lambda words: model_server.count_prompt_tokens(url, key, chosen, bench_plan.prompt_text(words)),
            prompt_given=prompt_tokens is not None,
            output_given=output_tokens is not None,
        )
        if note:
            logger.warning("%s", note)
    body = {
        "model": chosen,
        "prompt": bench_plan.prompt_text(plan.prompt_tokens),
        "max_tokens": plan.output_tokens,
        "temperature": 0,
        "stream_options": {"include_usage": True},
        "extra_body": {"ignore_eos": True},  # vLLM: every answer is exactly max_tokens long
    }

    deadline = time.monotonic() + plan.max_seconds
    controller = cmd.cli_ctx.get_progress_controller(det=True)
    levels, sent_before = [], 0
    try:
        for concurrency_level, n_requests in zip(plan.concurrency, plan.requests_per_level, strict=True):
            if time.monotonic() >= deadline:
                logger.warning("--max-seconds reached: concurrency %d and above not run", concurrency_level)
                break

            def progress(done, level=concurrency_level, base=sent_before):
                controller.add(message=f"Concurrency {level}", value=base + done, total_val=max(plan.total_requests, 1))

            samples, wall = load_generator.run_level(
                url, key, body, concurrency_level, n_requests, deadline=deadline, on_done=progress
            )
            if not samples:
                logger.warning("--max-seconds reached: concurrency %d and above not run", concurrency_level)
                break
            levels.append(bench_plan.level_summary(concurrency_level, samples, wall, per_second))
            sent_before += n_requests
    finally:
        controller.end()
    if not levels:
        raise BenchError(
            f"no request was sent within --max-seconds ({plan.max_seconds:g} s)", "Give a longer --max-seconds."
        )
    if all(level["failed"] == level["requests"] for level in levels):
        raise BenchError(
            f"every request failed: {'; '.join(levels[0]['errors']) or 'no answer'}",
            "`az aitk inference chat --message hi` shows whether the endpoint answers at all.",
        )
    result = {
        "endpoint": url,
        "model": chosen,
        "gpuProfile": profile.key if profile else None,
        "pricePerHour": None if per_second is None else round(per_second * 3600, 4),
        "priceSource": price_source,
        "promptTokens": plan.prompt_tokens,
        "outputTokens": plan.output_tokens,
        "maxSeconds": plan.max_seconds,
        "levels": levels,
    }
    # what one replica carried and the HTTP scale rule's value that matches it (docs/serving.md "Scale-out")
    result["replicaCapacity"], result["scaleRule"] = _scale_rule(aca, levels, apply_scale_rule)
    return result


def _replicas_serving(aca):
    """How many replicas of the serving revisions run now (the load was spread over them), at least 1."""
    try:
        return max(1, sum(running_replicas(aca.replicas(name)) for name in aca.serving_revisions()))
    except Exception:  # pylint: disable=broad-except  # a count that cannot be read: one replica
        logger.debug("could not count the replicas", exc_info=True)
        return 1


def _scale_rule(aca, levels, apply):
    """(replicaCapacity, scaleRule) of the result: what one replica carried, the app's rule and the
    measured one; with `apply`, the app's rule set to it (a new revision)."""
    capacity = scale_rule.measured(levels, _replicas_serving(aca))
    if capacity is None:
        if apply:
            raise BenchError(
                "--apply-scale-rule: no concurrency level finished without a failure, so no rule value was measured",
                "Run bench at lower --concurrency levels, then apply.",
            )
        logger.warning("No concurrency level finished without a failure: no per-replica capacity to report.")
        return None, None
    logger.warning("%s", scale_rule.line(capacity, capacity.rule))
    app_json = aca.get_json()
    before = scale_rule.current_rule((app_json.get("properties") or {}).get("template") or {})
    rule = {"concurrentRequests": before, "measured": capacity.rule, "applied": False}
    if apply and before == capacity.rule:
        logger.warning("The app's HTTP scale rule already asks for concurrentRequests %d.", capacity.rule)
    elif apply:
        aca.set_scale_concurrency(capacity.rule, app_json)
        rule["applied"] = True
        logger.warning(
            "Set the app's HTTP scale rule to concurrentRequests %d (was %s): a new revision starts; a later "
            "`az aitk inference provision` keeps it unless given --scale-concurrency or the parameter.",
            capacity.rule,
            before,
        )
    elif before != capacity.rule:
        logger.warning(
            "The app's rule asks for concurrentRequests %s: `--apply-scale-rule` (or provision --scale-concurrency %d) "
            "sets the measured one.",
            before,
            capacity.rule,
        )
    return scale_rule.summary(capacity), rule
