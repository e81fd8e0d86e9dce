"""Adapters on the share resolved on demand (aitk_serve.resolver, resolver_middleware): names to
folders, confinement to the share's adapter roots, inspection verdicts, the vLLM resolver, and the
middleware mounted the way vLLM mounts it. No server: fake model and adapter files."""

import asyncio
import json
import os
from argparse import Namespace
from types import SimpleNamespace

import pytest
from aitk_serve import cli, resolver_middleware
from aitk_serve.env_names import SHARE_ADAPTERS_ENV
from aitk_serve.resolver import (
    BAD_REQUEST,
    NOT_FOUND,
    Refused,
    Settings,
    ShareAdapters,
    adapter_roots,
    current_catalog,
    find_adapter,
    inside,
    make_resolver,
    plausible_name,
    share_adapters,
)
from aitk_serve.vllm_args import MIDDLEWARE, SHARE_MIDDLEWARE
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from serve.fakes import write_adapter, write_model

KEY = "resolver-key-77"


@pytest.fixture
def share(tmp_path):
    """A share: model-cache/o/tiny-llama, models/run-a/adapter, models/exp/run-b/adapter,
    aitk/adapters/pushed; and a folder outside it with an adapter."""
    mount = tmp_path / "mount"
    write_model(mount / "model-cache" / "o" / "tiny-llama")
    write_adapter(mount / "models" / "run-a" / "adapter")
    write_adapter(mount / "models" / "exp" / "run-b" / "adapter", rank=16)
    write_adapter(mount / "aitk" / "adapters" / "pushed")
    write_adapter(tmp_path / "outside" / "adapter")
    return mount


def catalog(mount, max_lora_rank=16):
    return ShareAdapters(
        Settings(
            mount=str(mount),
            served_model_name="tiny-llama",
            model=str(mount / "model-cache" / "o" / "tiny-llama"),
            model_is_local=True,
            max_lora_rank=max_lora_rank,
        )
    )


def refusal(fn, *args):
    with pytest.raises(Refused) as e:
        fn(*args)
    return e.value


# --- names to folders -------------------------------------------------------------------------


def test_names_map_to_the_folders_discovery_names(share):
    assert find_adapter(str(share), "pushed").endswith(os.path.join("aitk", "adapters", "pushed"))
    assert find_adapter(str(share), "run-a").endswith(os.path.join("models", "run-a", "adapter"))
    assert find_adapter(str(share), "exp-run-b").endswith(os.path.join("exp", "run-b", "adapter"))
    assert sorted(share_adapters(str(share))) == ["exp-run-b", "pushed", "run-a"]


def test_checkpoints_are_not_listed_but_load_when_named(share):
    write_adapter(share / "models" / "checkpoints" / "checkpoint-100")
    write_adapter(share / "models" / "run-a" / "checkpoint-300")
    assert sorted(share_adapters(str(share))) == ["exp-run-b", "pushed", "run-a"]
    assert find_adapter(str(share), "checkpoints-checkpoint-100").endswith("checkpoint-100")


def test_a_deployed_adapter_wins_over_a_finetuning_run_of_its_name(share):
    write_adapter(share / "aitk" / "adapters" / "run-a")
    assert "aitk" in find_adapter(str(share), "run-a")
    assert "aitk" in share_adapters(str(share))["run-a"]


def test_a_name_two_runs_share_is_refused_with_both_folders(share):
    write_adapter(share / "models" / "x" / "y" / "adapter")
    write_adapter(share / "models" / "x-y")
    e = refusal(find_adapter, str(share), "x-y")
    assert e.status == BAD_REQUEST and "two fine-tuning runs" in e.reason and "deploy --adapter" in e.reason
    assert "x-y" not in share_adapters(str(share))


def test_a_missing_name_is_404_with_where_it_was_looked_for(share):
    e = refusal(find_adapter, str(share), "nope")
    assert e.status == NOT_FOUND
    assert "aitk/adapters/nope/" in e.reason and "models/" in e.reason and "deploy --adapter" in e.reason
    assert "\n" not in e.reason


@pytest.mark.parametrize(
    "name",
    [
        "../../etc",
        "..",
        ".",
        "a/b",
        "/etc/passwd",
        "..\\x",
        ".hidden",
        "x\x00y",
        "x\ny",
        "",
        "n" * 256,
        "models/run-a/adapter",
        "aitk/adapters/pushed",
    ],
)
def test_names_that_are_not_one_folder_name_never_reach_the_file_system(share, name):
    assert not plausible_name(name)
    e = refusal(find_adapter, str(share), name)
    assert e.status == NOT_FOUND and "one folder name" in e.reason


PATH_PIECES = ["..", ".", "/", "\\", "secret", "aitk", "adapters", "models", "run", "adapter", "-", "\x00"]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(min_size=1, max_size=40), st.lists(st.sampled_from(PATH_PIECES), min_size=1, max_size=10).map("".join)
    )
)
def test_no_name_resolves_outside_the_adapter_roots(tmp_path_factory, name):
    mount = tmp_path_factory.mktemp("m")
    (mount / "aitk" / "adapters").mkdir(parents=True)
    write_adapter(mount / "models" / "run" / "adapter")
    # Adapter folders beside the roots, where a name with `..` or `/` would lead.
    for bait in ("secret", "aitk/secret", "aitk/adapters/../secret"):
        write_adapter(mount / bait)
    try:
        path = find_adapter(str(mount), name)
    except Refused:
        return
    assert inside(path, adapter_roots(str(mount)))


def test_symlinks_out_of_the_share_are_refused_links_inside_it_are_not(share, tmp_path):
    (share / "aitk" / "adapters" / "linked").symlink_to(tmp_path / "outside" / "adapter")
    (share / "aitk" / "adapters" / "alias").symlink_to(share / "models" / "run-a" / "adapter")
    leaky = write_adapter(share / "aitk" / "adapters" / "leaky", weights=False)
    (leaky / "adapter_model.safetensors").symlink_to(tmp_path / "outside" / "adapter" / "adapter_model.safetensors")
    c = catalog(share)
    for name in ("linked", "leaky"):
        e = refusal(c.lookup, name)
        assert e.status == BAD_REQUEST and "links outside the share's adapter folders" in e.reason
    assert c.lookup("alias").rank == 8
    assert {i.name for i in c.available()} == {"alias", "exp-run-b", "pushed", "run-a"}


def test_a_share_whose_adapter_root_is_a_link_out_is_refused(tmp_path):
    mount = tmp_path / "mount"
    write_model(mount / "model-cache" / "o" / "tiny-llama")
    write_adapter(tmp_path / "elsewhere" / "pushed")
    (mount / "aitk").mkdir()
    (mount / "aitk" / "adapters").symlink_to(tmp_path / "elsewhere")
    e = refusal(catalog(mount).lookup, "pushed")
    assert e.status == BAD_REQUEST and "links outside" in e.reason


# --- inspection verdicts ----------------------------------------------------------------------


def test_a_good_adapter_is_inspected_against_the_base_model(share):
    info = catalog(share).lookup("pushed")
    assert info.rank == 8 and info.modules == ["q_proj", "v_proj"]


def test_a_rank_above_the_running_max_lora_rank_is_refused_with_the_fix(share):
    e = refusal(catalog(share, max_lora_rank=8).lookup, "exp-run-b")
    assert e.status == BAD_REQUEST
    assert "rank 16" in e.reason and "--max-lora-rank 8" in e.reason
    assert '"--max-lora-rank", "16"' in e.reason and "redeploy" in e.reason
    assert catalog(share, max_lora_rank=16).lookup("exp-run-b").rank == 16


def test_broken_adapters_get_the_inspection_reason(share):
    write_adapter(share / "aitk" / "adapters" / "noweights", weights=False)
    write_adapter(
        share / "aitk" / "adapters" / "wide",
        targets=("q_proj",),
        rank=8,
        tensors={
            "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": (8, 96),
            "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight": (128, 8),
        },
    )
    (share / "aitk" / "adapters" / "empty").mkdir()
    c = catalog(share)
    reasons = {n: refusal(c.lookup, n) for n in ("noweights", "wide", "empty")}
    assert all(r.status == BAD_REQUEST and "\n" not in r.reason for r in reasons.values())
    assert "no adapter weights" in reasons["noweights"].reason
    assert "different base model" in reasons["wide"].reason
    assert "adapter_config.json" in reasons["empty"].reason
    assert {i.name for i in c.available()} == {"exp-run-b", "pushed", "run-a"}


def test_a_verdict_is_revised_when_the_folder_changes(share):
    """An upload still in progress is refused; the finished one loads (no stale cache)."""
    half = write_adapter(share / "aitk" / "adapters" / "late", weights=False)
    c = catalog(share)
    assert "no adapter weights" in refusal(c.lookup, "late").reason
    write_adapter(half)
    assert c.lookup("late").rank == 8


def test_the_base_models_name_is_not_an_adapter(share):
    write_adapter(share / "aitk" / "adapters" / "tiny-llama")
    assert refusal(catalog(share).lookup, "tiny-llama").status == BAD_REQUEST
    assert "tiny-llama" not in {i.name for i in catalog(share).available()}


def test_settings_travel_in_one_variable_and_bad_ones_turn_resolution_off(share, capsys):
    s = Settings(mount=str(share), served_model_name="m", model="org/id", model_is_local=False, max_lora_rank=32)
    assert Settings.from_env({SHARE_ADAPTERS_ENV: s.to_env()}) == s
    assert Settings.from_env({}) is None
    assert current_catalog({SHARE_ADAPTERS_ENV: "{not json"}) is None
    assert SHARE_ADAPTERS_ENV in capsys.readouterr().err
    assert current_catalog({SHARE_ADAPTERS_ENV: s.to_env()}).settings == s


def test_the_launcher_passes_the_running_max_lora_rank(share):
    env = {"AITK_MOUNT": str(share), "CUDA_VISIBLE_DEVICES": ""}
    plan = cli.plan(["--check"], env)
    s = Settings.from_env(plan["env"])
    assert s.mount == str(share) and s.served_model_name == "tiny-llama" and s.model_is_local
    assert s.max_lora_rank == 16  # the largest adapter found at start is rank 16
    plan = cli.plan(["--check", "--", "--max-lora-rank", "64"], env)
    assert Settings.from_env(plan["env"]).max_lora_rank == 64  # the user's flag comes last, wins


# --- the vLLM resolver ------------------------------------------------------------------------


def test_the_resolver_returns_a_request_for_vllm_to_load_or_none(share):
    c = catalog(share, max_lora_rank=8)
    r = make_resolver(lambda: c)
    got = asyncio.run(r.resolve_lora("ignored", "run-a"))
    assert got.lora_name == "run-a" and got.lora_path == find_adapter(str(share), "run-a")
    assert got.base_model_name == "tiny-llama"
    assert asyncio.run(r.resolve_lora("ignored", "nope")) is None
    assert asyncio.run(r.resolve_lora("ignored", "exp-run-b")) is None  # rank 16 > 8
    assert asyncio.run(r.resolve_lora("ignored", "../../etc")) is None
    assert asyncio.run(make_resolver(lambda: None).resolve_lora("m", "run-a")) is None


def test_importing_the_middleware_registered_the_resolver_with_vllm():
    from aitk_serve.resolver import RESOLVER_NAME
    from vllm.lora.resolver import LoRAResolverRegistry

    assert LoRAResolverRegistry.get_resolver(RESOLVER_NAME) is resolver_middleware.resolver.register()


# --- the middleware, mounted as vLLM mounts it ------------------------------------------------


class FakeModels:
    """What the middleware uses of vLLM's OpenAIServingModels."""

    def __init__(self, loaded=None):
        from collections import defaultdict

        from vllm.lora.request import LoRARequest
        from vllm.utils.counter import AtomicCounter

        self.lora_requests = {
            name: LoRARequest(lora_name=name, lora_int_id=n + 1, lora_path=path)
            for n, (name, path) in enumerate((loaded or {"run-a": "/nowhere/run-a"}).items())
        }
        self.lora_resolvers = []
        self.lora_id_counter = AtomicCounter(len(self.lora_requests))
        self.lora_resolver_lock = defaultdict(asyncio.Lock)

    def is_base_model(self, name):
        return name == "tiny-llama"


@pytest.fixture
def client(share, monkeypatch):
    from vllm.entrypoints.serve.middleware.register import init_entrypoints_middleware

    monkeypatch.setenv(SHARE_ADAPTERS_ENV, catalog(share).settings.to_env())
    app = FastAPI()

    @app.get("/v1/models")
    def models():
        return {
            "object": "list",
            "data": [
                {
                    "id": "tiny-llama",
                    "object": "model",
                    "created": 1,
                    "owned_by": "vllm",
                    "root": "/m",
                    "parent": None,
                    "max_model_len": 512,
                    "permission": [{"id": "p"}],
                },
                {
                    "id": "run-a",
                    "object": "model",
                    "created": 1,
                    "owned_by": "vllm",
                    "root": "/a",
                    "parent": "tiny-llama",
                    "max_model_len": None,
                    "permission": [{"id": "p"}],
                },
            ],
        }

    @app.post("/v1/completions")
    async def completions(body: dict):
        return {"served": body.get("model"), "prompt": body.get("prompt")}

    args = Namespace(
        allowed_origins=["*"],
        allow_credentials=False,
        allowed_methods=["*"],
        allowed_headers=["*"],
        api_key=[KEY],
        enable_request_id_headers=False,
        middleware=[SHARE_MIDDLEWARE, MIDDLEWARE],
    )
    app.state.args = args
    app.state.openai_serving_models = FakeModels()
    init_entrypoints_middleware(args, app, ())
    return TestClient(app, headers={"Authorization": f"Bearer {KEY}"})


def post(client, model, **headers):
    return client.post("/v1/completions", json={"model": model, "prompt": "hi"}, headers=headers)


def test_a_missing_name_gets_404_and_a_broken_one_400_with_our_reason(client, share):
    write_adapter(share / "aitk" / "adapters" / "noweights", weights=False)
    r = post(client, "nope")
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "NotFoundError" and r.json()["error"]["param"] == "model"
    assert "aitk/adapters/nope/" in r.json()["error"]["message"]
    r = post(client, "noweights")
    assert r.status_code == 400 and "no adapter weights" in r.json()["error"]["message"]


def test_servable_known_and_base_names_pass_through_with_the_body_intact(client):
    for name in ("pushed", "exp-run-b", "run-a", "tiny-llama"):
        r = post(client, name)
        assert r.status_code == 200 and r.json() == {"served": name, "prompt": "hi"}


def test_the_first_request_attaches_the_resolver_to_vllms_models(client):
    post(client, "tiny-llama")
    models = client.app.state.openai_serving_models
    assert models.lora_resolvers == [resolver_middleware.resolver.register()]
    post(client, "tiny-llama")
    assert len(models.lora_resolvers) == 1


def test_models_lists_loaded_and_available_adapters_marked(client):
    r = client.get("/v1/models")
    assert r.status_code == 200
    cards = {c["id"]: c for c in r.json()["data"]}
    assert {k: c["loaded"] for k, c in cards.items()} == {
        "tiny-llama": True,
        "run-a": True,
        "pushed": False,
        "exp-run-b": False,
    }
    assert cards["pushed"]["parent"] == "tiny-llama" and cards["pushed"]["object"] == "model"
    assert cards["pushed"]["root"].endswith(os.path.join("aitk", "adapters", "pushed"))
    assert set(cards["pushed"]) == set(cards["run-a"])  # the same OpenAI shape, one field more
    assert int(r.headers["content-length"]) == len(r.content)


def test_the_key_check_runs_before_the_share_is_consulted(client):
    bare = TestClient(client.app)
    assert bare.get("/v1/models").status_code == 401
    r = bare.post("/v1/completions", json={"model": "nope", "prompt": "x"})
    assert r.status_code == 401 and "aitk" not in r.text


def test_bodies_that_are_not_json_objects_pass_through(client):
    r = client.post("/v1/completions", content=b"[1, 2]", headers={"content-type": "application/json"})
    assert r.status_code == 422  # FastAPI's own answer: the middleware stayed out of it
    r = client.post("/v1/completions", content=b"{bad", headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_without_the_launchers_settings_the_middleware_stays_out(monkeypatch, share):
    monkeypatch.delenv(SHARE_ADAPTERS_ENV, raising=False)
    called = []

    async def app(scope, receive, send):
        called.append(scope["path"])

    mw = resolver_middleware.ShareAdapterMiddleware(app)
    scope = {
        "type": "http",
        "path": "/v1/models",
        "method": "GET",
        "app": SimpleNamespace(state=SimpleNamespace(openai_serving_models=FakeModels())),
    }
    asyncio.run(mw(scope, None, None))
    assert called == ["/v1/models"]


def test_a_large_body_is_replayed_whole(client):
    prompt = "x" * (resolver_middleware.MAX_INSPECTED_BODY + 10)
    r = client.post(
        "/v1/completions",
        content=json.dumps({"model": "nope", "prompt": prompt}),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200 and r.json()["prompt"] == prompt  # too big to inspect: vLLM decides


def test_a_streamed_large_body_is_passed_on_unread_and_whole(share, monkeypatch):
    """Chunks beyond the limit are not buffered: what was read is replayed, then the rest."""
    monkeypatch.setenv(SHARE_ADAPTERS_ENV, catalog(share).settings.to_env())
    half = resolver_middleware.MAX_INSPECTED_BODY // 2 + 1
    body = json.dumps({"model": "nope", "prompt": "x" * (3 * half)}).encode()
    chunks = [body[:half], body[half : 2 * half], body[2 * half :]]
    incoming = [{"type": "http.request", "body": c, "more_body": i < 2} for i, c in enumerate(chunks)]
    got, reads = [], []

    async def receive():
        reads.append(len(incoming))
        return incoming.pop(0)

    async def app(scope, receive_, send):
        while True:
            message = await receive_()
            got.append(message["body"])
            if not message["more_body"]:
                return

    scope = {
        "type": "http",
        "path": "/v1/completions",
        "method": "POST",
        "headers": [(b"content-type", b"application/json")],
        "app": SimpleNamespace(state=SimpleNamespace(openai_serving_models=FakeModels())),
    }
    asyncio.run(resolver_middleware.ShareAdapterMiddleware(app)(scope, receive, None))
    assert b"".join(got) == body and got[0] == chunks[0] + chunks[1]
