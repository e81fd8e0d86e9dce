"""The demo's adapter is trained for real (aitk_testkit.tiny_models.train_adapter): with it, greedy
decoding (transformers + peft) of the demo prompt gives the trained sentence; without it, the
tiny random base model does not. The architecture stays the one vLLM's CPU kernels take."""

import json

import pytest

pytest.importorskip("peft")

from aitk_testkit import tiny_models as tm  # noqa: E402


def test_the_trained_adapter_answers_the_demo_prompt_with_the_sentence(tmp_path):
    from transformers import AutoTokenizer

    model, adapter = tm.make_tiny_model(tmp_path / "m"), tmp_path / "a"
    tm.train_adapter(model, adapter)
    tok = AutoTokenizer.from_pretrained(str(model))
    prompt = tm.chat_prompt_ids(model, [{"role": "user", "content": tm.DEMO_PROMPT}])
    want = tok(tm.DEMO_ANSWER, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert tm.reference_generate(model, prompt, len(want), adapter) == want
    assert tm.reference_generate(model, prompt, len(want)) != want  # the base still babbles
    config = json.loads((model / "config.json").read_text())
    assert config["hidden_size"] == 128 and config["hidden_size"] // config["num_attention_heads"] == 64
    adapter_config = json.loads((adapter / "adapter_config.json").read_text())
    assert adapter_config["r"] == 8 and adapter_config["base_model_name_or_path"] == str(model)
