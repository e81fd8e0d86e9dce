"""core/compare_run and core/bench_plan with plain values: the prompts file, the report page, the
sweep's options and the statistics (the endpoint rule bench shares: core/endpoint_url)."""

import pytest
from azext_aitk.core import gpu_profiles
from azext_aitk.core.endpoint import bench_plan, compare_run
from azext_aitk.core.errors import BenchError, CompareError


def test_plain_text_prompts_are_one_user_message_a_line():
    assert compare_run.parse_prompts("a b\n\n  c  \n", "p.txt") == [
        [{"role": "user", "content": "a b"}],
        [{"role": "user", "content": "c"}],
    ]


def test_jsonl_prompts_take_lists_and_messages_objects():
    text = '[{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]\n{"messages": [{"role": "user", "content": "v"}]}'
    assert compare_run.parse_prompts(text, "p.jsonl") == [
        [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
        [{"role": "user", "content": "v"}],
    ]


@pytest.mark.parametrize(
    "text, needle",
    [
        ("\n \n", "has no prompts"),
        ('[{"role": "user", "content": "u"}]\n{oops', "line 2 is not JSON"),
        ('[{"role": "user", "content": 3}]', "line 1: every message needs a role"),
        ('[{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]', "must be the user's"),
        ("[]", "non-empty JSON list"),
        ("x\n" * (compare_run.MAX_PROMPTS + 1), "more than"),
    ],
)
def test_bad_prompts_files_say_where(text, needle):
    with pytest.raises(CompareError, match=needle):
        compare_run.parse_prompts(text, "p")


def test_models_are_the_base_then_the_chosen_ones():
    served = ["base", "a1", "a2"]
    assert compare_run.pick_models(served, None) == served
    assert compare_run.pick_models(served, ["a2", "a2"]) == ["base", "a2"]
    assert compare_run.pick_models(served, ["base", "a1"]) == ["base", "a1"]
    with pytest.raises(CompareError, match="not served by the endpoint: zz"):
        compare_run.pick_models(served, ["zz"])


def _answer(text, tokens=3, latency=0.5):
    return {
        "text": text,
        "promptTokens": 1,
        "completionTokens": tokens,
        "latencySeconds": latency,
        "finishReason": "stop",
    }


def test_result_marks_answers_equal_to_the_base_and_the_page_escapes_them(tmp_path):
    convs = [[{"role": "user", "content": "<i>q</i>"}]]
    res = compare_run.result(
        "https://e",
        ["base", "a"],
        convs,
        [[_answer("</td><script>"), _answer("</td><script>")]],
        max_tokens=8,
        temperature=0,
    )
    assert [a["sameAsBase"] for a in res["prompts"][0]["answers"]] == [False, True]
    path = compare_run.check_report_path(str(tmp_path / "r.html"))
    compare_run.write_report(path, res)
    page = path.read_text()
    assert "<script>" not in page and "<i>" not in page
    assert "&lt;/td&gt;&lt;script&gt;" in page and "&lt;i&gt;q&lt;/i&gt;" in page and "same as base" in page
    assert not list(tmp_path.glob("*.tmp"))


def test_report_paths_are_checked_before_anything_is_sent(tmp_path):
    assert compare_run.check_report_path(None) is None
    for bad, needle in ((tmp_path / "x.txt", "HTML page"), (tmp_path / "no" / "x.html", "does not exist")):
        with pytest.raises(CompareError, match=needle):
            compare_run.check_report_path(str(bad))
    # A folder that takes no new file, whoever asks (root included): refused, and nothing left there.
    with pytest.raises(CompareError, match=r"cannot write in /sys \(Permission denied\)"):
        compare_run.check_report_path("/sys/compare.html")
    assert compare_run.check_report_path(str(tmp_path / "ok.html")) == tmp_path / "ok.html"
    assert list(tmp_path.iterdir()) == []  # the probe is gone


def test_answers_already_fetched_are_saved_elsewhere_when_the_report_folder_went_away(tmp_path):
    res = compare_run.result(
        "https://e",
        ["base"],
        [[{"role": "user", "content": "q"}]],
        [[_answer("an answer")]],
        max_tokens=8,
        temperature=0,
    )
    gone = tmp_path / "gone"
    gone.mkdir()
    path = compare_run.check_report_path(str(gone / "r.html"))
    gone.rmdir()  # after the check, while the prompts were asked
    fallback = tmp_path / "fallback"
    fallback.mkdir()
    written, why = compare_run.save_report(path, res, fallback)
    assert why == "No such file or directory" and written.parent == fallback
    assert "an answer" in written.read_text()
    assert compare_run.save_report(tmp_path / "r.html", res, fallback) == (tmp_path / "r.html", None)


def test_the_sweep_defaults_and_bounds():
    p = bench_plan.plan(None, None, 128, 128, None)
    assert p.concurrency == (1, 8, 32) and p.requests_per_level == (8, 32, 128) and p.max_seconds == 600
    assert bench_plan.plan([2], 5, 1, 1, 1.5).total_requests == 5
    for args in (([0], None, 1, 1, None), ([1, 1], None, 1, 1, None), ([1], 0, 1, 1, None), ([256], 5001, 1, 1, None),
                 ([1], None, 0, 1, None), ([1], None, 1, 40000, None), ([1], None, 1, 1, 0), ([1], None, 1, 1, float("nan"))):  # fmt: skip
        with pytest.raises(BenchError):
            bench_plan.plan(*args)


def test_percentiles_interpolate_between_ranks():
    assert bench_plan.percentile([], 50) is None
    assert bench_plan.percentile([3.0], 95) == 3.0
    assert bench_plan.percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert bench_plan.percentile(list(range(1, 21)), 95) == pytest.approx(19.05)


def test_a_level_summary_counts_only_answered_requests_and_prices_the_wall_time():
    ok = {"ok": True, "ttft": 0.1, "latency": 1.0, "promptTokens": 10, "outputTokens": 100, "error": None}
    samples = [ok, dict(ok, ttft=0.3, latency=3.0), {"ok": False, "error": "500 boom"}]
    s = bench_plan.level_summary(2, samples, 4.0, 0.001)
    assert (s["requests"], s["failed"], s["outputTokens"], s["promptTokens"]) == (3, 1, 200, 20)
    assert s["outputTokensPerSecond"] == 50.0 and s["ttftP50"] == 0.2 and s["latencyP95"] == pytest.approx(2.9)
    assert s["costPerMillionOutputTokens"] == pytest.approx(0.001 * 4.0 / 200 * 1e6) and s["errors"] == ["500 boom"]
    assert bench_plan.level_summary(1, samples, 4.0, None)["costPerMillionOutputTokens"] is None


def test_the_price_comes_from_the_flag_else_the_profiles_dated_list_price():
    t4 = gpu_profiles.PROFILES["T4"]
    assert bench_plan.price(t4, 7.2) == (0.002, "--price-per-hour")
    per_second, source = bench_plan.price(t4, None)
    assert per_second == t4.usd_per_hour / 3600 and gpu_profiles.PRICES_AS_OF in source
    assert bench_plan.price(gpu_profiles.PROFILES["NC24-A100"], None)[0] is None
    with pytest.raises(BenchError):
        bench_plan.price(t4, 0)


def test_bench_defaults_fit_a_short_context_and_given_values_that_cannot_are_refused():
    defaults = bench_plan.plan(None, None, 128, 128, None)
    cards = [{"id": "base", "max_model_len": 512}, {"id": "a"}]
    assert bench_plan.context_of(cards, "base") == 512 and bench_plan.context_of(cards, "a") is None
    three_a_word = lambda words: 3 * words + 1  # noqa: E731  a byte-level BPE: "hello" is 3 tokens
    fitted, note = bench_plan.fit_to_context(
        defaults, "base", 512, three_a_word, prompt_given=False, output_given=False
    )
    assert fitted.output_tokens == 128 and 3 * fitted.prompt_tokens + 1 + 128 <= 512
    assert fitted.prompt_tokens >= 120  # not shrunk more than needed
    assert "base has a context of 512 tokens (from /v1/models)" in note and "--prompt-tokens" in note
    assert fitted.concurrency == defaults.concurrency and fitted.max_seconds == defaults.max_seconds
    # No count from the server: one token a word, one more for the start.
    fitted, _ = bench_plan.fit_to_context(
        defaults, "base", 200, lambda words: None, prompt_given=False, output_given=False
    )
    assert fitted.prompt_tokens + 1 + fitted.output_tokens <= 200 and fitted.output_tokens == 50
    assert bench_plan.fit_to_context(defaults, "base", 4096, three_a_word, prompt_given=False, output_given=False) == (
        defaults,
        None,
    )
    # Given values are kept; the other one gives way, or the run is refused in one line.
    fitted, _ = bench_plan.fit_to_context(defaults, "base", 512, three_a_word, prompt_given=True, output_given=False)
    assert fitted.prompt_tokens == 128 and fitted.output_tokens == 512 - 385
    with pytest.raises(BenchError, match=r"need 513 tokens; base has a context of 512 tokens"):
        bench_plan.fit_to_context(defaults, "base", 512, three_a_word, prompt_given=True, output_given=True)
    with pytest.raises(BenchError, match="context of 100 tokens"):
        bench_plan.fit_to_context(
            bench_plan.plan(None, None, 128, 500, None),
            "base",
            100,
            three_a_word,
            prompt_given=False,
            output_given=True,
        )
