"""core/deploy/adapter_checks.py: the launcher's checks as deploy runs them, before any upload."""

import pytest
from azext_aitk.core.deploy import adapter_checks as c
from azext_aitk.core.errors import AdapterSpecError

from aitk_testkit.tiny_models import TINY_LLAMA_CONFIG, model_tensors, write_lora


def headers(config=TINY_LLAMA_CONFIG):
    """One safetensors header per weight file, as aitk_serve.fit.read_headers gives them."""
    return [{k: {"dtype": "F32", "shape": list(s)} for k, s in model_tensors(config).items()}]


def test_the_model_serve_json_names_is_a_share_folder():
    assert c.wanted_model(None) is None and c.wanted_model({"model": " "}) is None
    assert c.wanted_model({"model": "model-cache/o/m"}) == "model-cache/o/m"
    assert c.wanted_model({"model": "/mount/model-cache/o/m"}) == "model-cache/o/m"


def test_the_served_name_is_serve_jsons_or_the_folders():
    found = (dict(TINY_LLAMA_CONFIG), headers())
    assert c.base(None, "model-cache/o/m", found, "w").served_name == "m"
    assert c.base({"served_model_name": "base"}, "model-cache/o/m", found, "w").served_name == "base"
    assert c.base(None, "org/hub-id", None, "w").info is None


def test_a_base_the_launcher_would_refuse_is_one_line():
    bad = (dict(TINY_LLAMA_CONFIG, hidden_size=256), headers())  # config.json from another size
    with pytest.raises(AdapterSpecError, match="the share's model-cache/o/m: .*hidden_size 256"):
        c.base(None, "model-cache/o/m", bad, "the share's model-cache/o/m")


def test_each_refusal_names_the_adapter(tmp_path):
    base = c.base(None, "model-cache/o/m", (dict(TINY_LLAMA_CONFIG), headers()), "w")
    good, notjson = write_lora(tmp_path / "good"), write_lora(tmp_path / "nj")
    (notjson / "adapter_config.json").write_text("{")
    assert [i.name for i in c.check({"good": good}, base)] == ["good"]
    with pytest.raises(AdapterSpecError, match=r"^--adapter: adapter 'nj': .* is not valid JSON") as e:
        c.check({"good": good, "nj": notjson}, base)
    assert "\n" not in str(e.value) and "Nothing was uploaded" in e.value.recommendation
    wider = write_lora(tmp_path / "wider", config=dict(TINY_LLAMA_CONFIG, hidden_size=256))
    with pytest.raises(AdapterSpecError, match="adapter 'wider'.*different base model.*model-cache/o/m"):
        c.check({"wider": wider}, base)
    # Without the base on the share: every check but the shapes.
    assert [i.name for i in c.check({"wider": wider}, c.Base("org/id", "id", None))] == ["wider"]
    with pytest.raises(AdapterSpecError, match="named like the base model|same name"):
        c.check({"m": good}, base)
