"""Where the model and adapters come from (aitk_serve.discovery): precedence and discovery."""

import json

import pytest
from aitk_serve import LaunchError
from aitk_serve.cli import parser, split_argv
from aitk_serve.discovery import (
    adapter_name_for,
    discover_adapters,
    discover_models,
    load_serve_config,
    parse_adapter_specs,
    resolve,
)
from aitk_serve.layout import ADAPTERS_DIR, SERVE_CONFIG_FILE

from serve.fakes import write_adapter, write_model


def args(*argv):
    return parser().parse_args(list(argv))


@pytest.fixture
def share(tmp_path):
    """An AI Toolkit share: one model, two fine-tuning adapters, one deployed adapter."""
    m = tmp_path / "share"
    write_model(m / "model-cache" / "org" / "tiny-llama")
    write_adapter(m / "models" / "run-1" / "adapter")
    write_adapter(m / "models" / "exp" / "run-2" / "adapter")
    write_adapter(m / ADAPTERS_DIR / "pushed")
    return m


@pytest.mark.parametrize(
    "rel,name", [("run-1/adapter", "run-1"), ("exp/run-2/adapter", "exp-run-2"), ("adapter", "adapter"), ("a/b", "a-b")]
)
def test_adapter_names_follow_the_folder_path(rel, name):
    assert adapter_name_for(rel) == name


def test_discovery_finds_the_model_and_every_adapter(share):
    assert discover_models(str(share)) == [str(share / "model-cache" / "org" / "tiny-llama")]
    pairs, warnings = discover_adapters(str(share))
    assert pairs == [
        ("exp-run-2", str(share / "models/exp/run-2/adapter")),
        ("pushed", str(share / ADAPTERS_DIR / "pushed")),
        ("run-1", str(share / "models/run-1/adapter")),
    ]
    assert warnings == []


def test_a_deployed_adapter_wins_over_a_fine_tuning_one_of_the_same_name(share):
    write_adapter(share / ADAPTERS_DIR / "run-1")
    pairs, warnings = discover_adapters(str(share))
    assert dict(pairs)["run-1"] == str(share / ADAPTERS_DIR / "run-1")
    assert len(warnings) == 1 and "serving the deployed" in warnings[0]


def test_two_fine_tuning_adapters_with_one_name_are_refused(share):
    write_adapter(share / "models" / "exp-run-2" / "adapter")  # "exp-run-2", like exp/run-2
    with pytest.raises(LaunchError, match="two adapters are named 'exp-run-2'"):
        discover_adapters(str(share))


def test_several_models_need_an_explicit_choice(share):
    write_model(share / "model-cache" / "org" / "other")
    with pytest.raises(LaunchError, match="several models under .*pass --model"):
        resolve(args(), {"AITK_MOUNT": str(share)})


def test_no_model_anywhere_is_refused(tmp_path):
    with pytest.raises(LaunchError, match="no model given and none found under"):
        resolve(args(), {"AITK_MOUNT": str(tmp_path)})


def test_discovery_is_the_default(share):
    src = resolve(args(), {"AITK_MOUNT": str(share)})
    assert src.model == str(share / "model-cache/org/tiny-llama") and src.model_is_local
    assert src.served_model_name == "tiny-llama"
    assert [n for n, _ in src.adapters] == ["exp-run-2", "pushed", "run-1"]


def test_precedence_flags_over_env_over_serve_json_over_discovery(share, tmp_path):
    for name in ("m-flag", "m-env", "m-json"):
        write_model(tmp_path / name)
    for name in ("a-flag", "a-env", "a-json"):
        write_adapter(tmp_path / name)
    cfg = share / SERVE_CONFIG_FILE
    cfg.parent.mkdir(parents=True)
    # serve.json paths are relative to the mount
    cfg.write_text(
        json.dumps(
            {
                "model": "../m-json",
                "served_model_name": "from-json",
                "adapters": {"j": "../a-json"},
                "vllm_args": ["--seed", "7"],
            }
        )
    )
    env = {"AITK_MOUNT": str(share)}
    src = resolve(args(), env)
    assert (src.model, src.served_model_name) == (str(tmp_path / "m-json"), "from-json")
    assert src.adapters == [("j", str(tmp_path / "a-json"))] and src.vllm_args == ["--seed", "7"]
    assert src.config_path == str(cfg)

    env.update(AITK_MODEL=str(tmp_path / "m-env"), AITK_ADAPTERS=f"e={tmp_path / 'a-env'}, ")
    src = resolve(args(), env)
    assert src.model == str(tmp_path / "m-env") and src.adapters == [("e", str(tmp_path / "a-env"))]
    assert src.served_model_name == "from-json"  # not overridden by env: stays

    src = resolve(
        args(
            "--model",
            str(tmp_path / "m-flag"),
            "--adapter",
            f"f={tmp_path / 'a-flag'}",
            "--served-model-name",
            "flag-name",
        ),
        env,
    )
    assert src.model == str(tmp_path / "m-flag") and src.adapters == [("f", str(tmp_path / "a-flag"))]
    assert src.served_model_name == "flag-name"


def test_a_named_config_file_must_exist(share):
    with pytest.raises(LaunchError, match="config file .* does not exist"):
        resolve(args("--config", str(share / "nope.json")), {"AITK_MOUNT": str(share)})


@pytest.mark.parametrize(
    "text,message",
    [
        ('{"adapters": {"a": "x", "a": "y"}}', "two adapters are named 'a'"),
        ('{"adapters": ["x"]}', "must map names to paths"),
        ('{"vllm_args": "--seed 1"}', "must be a list of strings"),
        ('{"modle": "x"}', r"unknown keys \['modle'\]"),
        ('{"model": 3}', '"model" must be a string'),
        ("[]", "not a JSON object"),
        ("{", "not valid JSON"),
    ],
)
def test_bad_serve_json_is_refused(tmp_path, text, message):
    path = tmp_path / "serve.json"
    path.write_text(text)
    with pytest.raises(LaunchError, match=message):
        load_serve_config(str(path), required=True)


@pytest.mark.parametrize("spec", ["noequals", "=path", "name="])
def test_adapter_specs_need_a_name_and_a_path(spec):
    with pytest.raises(LaunchError, match="is not NAME=PATH"):
        parse_adapter_specs([spec], "--adapter")


def test_a_model_id_is_passed_through(tmp_path):
    src = resolve(args("--model", "microsoft/Phi-3-mini-4k-instruct"), {"AITK_MOUNT": str(tmp_path)})
    assert (src.model, src.model_is_local) == ("microsoft/Phi-3-mini-4k-instruct", False)
    assert src.served_model_name == "microsoft/Phi-3-mini-4k-instruct"


def test_a_missing_model_path_stays_a_path(tmp_path):
    src = resolve(args("--model", str(tmp_path / "gone")), {"AITK_MOUNT": str(tmp_path)})
    assert src.model_is_local and src.model == str(tmp_path / "gone")


@pytest.mark.parametrize("where", ["cwd", "mount"])
def test_a_missing_folder_under_an_existing_one_is_refused_before_vllm(tmp_path, monkeypatch, where):
    """models/phi-2 with a folder models/ here is a mistyped folder, not the Hugging Face id
    `models/phi-2` that vLLM would try to download (and fail on, minutes later, offline)."""
    mount, cwd = tmp_path / "mount", tmp_path / "cwd"
    for base in (mount, cwd):
        base.mkdir()
    ((cwd if where == "cwd" else mount) / "models").mkdir()
    monkeypatch.chdir(cwd)
    with pytest.raises(LaunchError) as e:
        resolve(args("--model", "models/phi-2"), {"AITK_MOUNT": str(mount)})
    msg = str(e.value)
    assert msg.startswith("--model models/phi-2: no such model folder in ") and "\n" not in msg
    assert f"{(cwd if where == 'cwd' else mount) / 'models'} is a folder without 'phi-2' in it" in msg
    assert msg.endswith("give the folder that holds the model's config.json, or a Hugging Face id (org/name)")


@pytest.mark.parametrize("model", ["model-cache/org/tiny", "org/name/", "org//name"])
def test_a_model_that_cannot_be_a_hugging_face_id_is_a_missing_folder(tmp_path, monkeypatch, model):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LaunchError, match="a Hugging Face id has one '/' at most, as in org/name"):
        resolve(args("--model", model), {"AITK_MOUNT": str(tmp_path)})
    with pytest.raises(LaunchError, match=f"^AITK_MODEL {model}: no such model folder"):
        resolve(args(), {"AITK_MOUNT": str(tmp_path), "AITK_MODEL": model})


def test_a_missing_folder_in_serve_json_is_refused_naming_the_file(tmp_path, monkeypatch):
    (tmp_path / "model-cache").mkdir()
    cfg = tmp_path / SERVE_CONFIG_FILE
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(json.dumps({"model": "model-cache/tiny"}))
    monkeypatch.chdir(tmp_path / "model-cache")  # the cwd plays no part for serve.json's paths
    with pytest.raises(LaunchError, match=f"^{cfg}: model model-cache/tiny: no such model folder under the mount"):
        resolve(args(), {"AITK_MOUNT": str(tmp_path)})


@pytest.mark.parametrize("model", ["gpt2", "microsoft/phi-2", "s3://bucket/models/phi-2"])
def test_hugging_face_ids_and_urls_still_go_to_vllm(tmp_path, monkeypatch, model):
    (tmp_path / "phi-2").mkdir()  # a folder named like the id's second part changes nothing
    monkeypatch.chdir(tmp_path)
    src = resolve(args("--model", model), {"AITK_MOUNT": str(tmp_path / "mount")})
    assert (src.model, src.model_is_local) == (model, False)


def test_arguments_after_double_dash_are_vllms():
    assert split_argv(["--model", "m", "--", "--dtype", "float32", "--"]) == (
        ["--model", "m"],
        ["--dtype", "float32", "--"],
    )
    assert split_argv(["--check"]) == (["--check"], [])


# --- symlinks under models/ --------------------------------------------------------------------


def test_a_symlink_loop_is_not_followed(share):
    """A link back up (models/run-1/up -> models) and a second name for an adapter
    (models/alias -> run-1/adapter): each real folder is visited once, named by its real path."""
    import os
    import time

    models = share / "models"
    os.symlink(models, models / "run-1" / "up")
    os.symlink(share, models / "exp" / "mount")  # loops through the whole share
    os.symlink(models / "run-1" / "adapter", models / "alias")
    started = time.monotonic()
    pairs, warnings = discover_adapters(str(share))
    assert time.monotonic() - started < 2
    assert pairs == [
        ("exp-run-2", str(share / "models/exp/run-2/adapter")),
        ("pushed", str(share / ADAPTERS_DIR / "pushed")),
        ("run-1", str(share / "models/run-1/adapter")),
    ]
    assert warnings == []


def test_a_linked_adapter_folder_outside_models_is_still_served(share, tmp_path):
    import os

    os.symlink(write_adapter(tmp_path / "elsewhere"), share / "models" / "linked")
    assert dict(discover_adapters(str(share))[0])["linked"] == str(share / "models" / "linked")


# --- fine-tuning checkpoints ---------------------------------------------------------------------


@pytest.fixture
def finetuned(tmp_path):
    """The share after AI Toolkit fine-tuning: the final adapter under the engine's output_dir
    (models/qlora), the Trainer's checkpoints under training_args.output_dir."""
    m = tmp_path / "share"
    write_model(m / "model-cache" / "microsoft" / "Phi-3-mini-4k-instruct")
    write_adapter(m / "models" / "qlora" / "qlora" / "gpu-cuda_model" / "adapter")
    for step in (100, 200):
        write_adapter(m / "models" / "checkpoints" / f"checkpoint-{step}")
    write_adapter(m / "models" / "qlora" / "checkpoint-300")  # a checkpoint-* anywhere
    return m


def test_checkpoints_are_skipped_with_one_note(finetuned):
    pairs, warnings = discover_adapters(str(finetuned))
    assert pairs == [("qlora-qlora-gpu-cuda_model", str(finetuned / "models/qlora/qlora/gpu-cuda_model/adapter"))]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "skipped 3 fine-tuning checkpoint adapters (models/checkpoints/"
        "checkpoint-100, models/checkpoints/checkpoint-200, "
    )
    assert "--adapter NAME=PATH or serve.json" in warnings[0]


def olive_config(mount, output_dir):
    """The filled-in finetuning/olive-config.json of an AI Toolkit workspace (shape of the
    templates' configs/<model>/finetuning/olive-config.json, values set)."""
    path = mount / "finetuning" / "olive-config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "input_model": {"type": "HfModel", "model_path": "model-cache/microsoft/Phi-3-mini-4k-instruct"},
                "passes": {
                    "qlora": {
                        "type": "QLoRA",
                        "lora_r": 64,
                        "lora_alpha": 64,
                        "training_args": {"max_steps": 1200, "output_dir": output_dir},
                    },
                    "OnnxConversion": {"type": "OnnxConversion", "target_opset": 17},
                },
                "engine": {"cache_dir": "cache", "output_dir": "models/qlora"},
            }
        )
    )
    return path


def test_the_configured_checkpoint_folder_is_skipped(finetuned):
    olive_config(finetuned, "models/my-steps")
    write_adapter(finetuned / "models" / "my-steps" / "step-a")  # not named checkpoint-*
    pairs, warnings = discover_adapters(str(finetuned))
    names = [n for n, _ in pairs]
    # The configured folder replaces the default one: models/checkpoints is an ordinary folder.
    assert "my-steps-step-a" not in names and "checkpoints" not in " ".join(names)
    assert names == ["qlora-qlora-gpu-cuda_model"]
    assert warnings[0].startswith("skipped 4 fine-tuning checkpoint adapters")


def test_a_checkpoint_folder_outside_checkpoint_names_is_kept_when_not_configured(finetuned):
    olive_config(finetuned, "models/my-steps")
    write_adapter(finetuned / "models" / "checkpoints" / "final-copy")
    assert "checkpoints-final-copy" in dict(discover_adapters(str(finetuned))[0])


@pytest.mark.parametrize("text", ["{", '{"passes": []}', '{"passes": {"q": {"training_args": 3}}}'])
def test_an_unreadable_fine_tuning_config_falls_back_to_the_default(finetuned, text):
    path = finetuned / "finetuning" / "olive-config.json"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    pairs, warnings = discover_adapters(str(finetuned))
    assert [n for n, _ in pairs] == ["qlora-qlora-gpu-cuda_model"]
    assert str(path) in warnings[0] and "models/checkpoints/ (the default)" in warnings[0]
    assert warnings[1].startswith("skipped 3 fine-tuning checkpoint adapters")


def test_a_checkpoint_can_still_be_named_explicitly(finetuned):
    env = {"AITK_MOUNT": str(finetuned)}
    ckpt = finetuned / "models/checkpoints/checkpoint-200"
    src = resolve(args("--adapter", f"step200={ckpt}"), env)
    assert src.adapters == [("step200", str(ckpt))]
    cfg = finetuned / SERVE_CONFIG_FILE
    cfg.parent.mkdir(parents=True)
    cfg.write_text(json.dumps({"adapters": {"step100": "models/checkpoints/checkpoint-100"}}))
    src = resolve(args(), env)
    assert src.adapters == [("step100", str(finetuned / "models/checkpoints/checkpoint-100"))]
    assert not any("skipped" in w for w in src.warnings)


def test_the_launcher_logs_the_skipped_checkpoints(finetuned):
    from serve.conftest import run_launcher

    r = run_launcher(["--check"], finetuned)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [a["name"] for a in out["adapters"]] == ["qlora-qlora-gpu-cuda_model"]
    assert sum("skipped 3 fine-tuning checkpoint adapters" in n for n in out["notes"]) == 1
