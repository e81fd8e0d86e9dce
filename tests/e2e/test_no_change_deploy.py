"""Issue #11: a deploy with nothing changed needs only the share's folder listings (the deploy
manifest vouches for each file's hash while its ETag is unchanged), through the real az against
the stand-in; a file rewritten on the share behind deploy's back gets its own metadata read again.
The app runs the fake server (aitk_testkit/fake_server.py): only the share sync is under test."""

import pytest

from aitk_testkit.scenario import FAKE_PARAMETERS

pytestmark = pytest.mark.slow

RESOURCE_GROUP = "aitk-nochange"
FT_STORAGE = "aitkftnochange1"
FT_SHARE = "finetuning"


def _share_requests(azure, since):
    """(method, path?query) of the requests on the share's aitk/ folder since `since`."""
    prefix = f"/{FT_STORAGE}/{FT_SHARE}/aitk"
    return [(m, p) for m, p, _ in azure.requests_log[since:] if p.startswith(prefix)]


def test_a_deploy_with_nothing_changed_reads_no_file_metadata(fake_world):
    azure, az, ws = fake_world.azure, fake_world.az, fake_world.workspace
    az.run("aitk", "inference", "init", "-o", "none", cwd=ws)
    for i in range(30):
        (ws / "inference" / "notes" / f"n{i % 3}").mkdir(parents=True, exist_ok=True)
        (ws / "inference" / "notes" / f"n{i % 3}" / f"{i}.md").write_text(f"note {i}\n")
    az.run("aitk", "inference", "provision", *FAKE_PARAMETERS, "-o", "none", cwd=ws)
    first = az.json("aitk", "inference", "deploy", cwd=ws)
    assert first["uploaded"] > 30

    mark = len(azure.requests_log)
    again = az.json("aitk", "inference", "deploy", cwd=ws)
    assert again["uploaded"] == 0 and again["unchanged"] == first["uploaded"], again
    requests = _share_requests(azure, mark)
    assert [p for m, p in requests if m == "HEAD"] == []  # no Get File Properties
    listings = [p for m, p in requests if m == "GET" and "comp=list" in p]
    assert listings and all("include=" in p.lower() and "etag" in p.lower() for p in listings), listings
    # nothing written, the manifest included; the one write is the deploy lease on aitk/deploy-lock
    # (acquire, the holder's metadata, release: core/deploy/deploy_lock.py)
    assert [(m, p) for m, p in requests if m != "GET" and "/aitk/deploy-lock" not in p] == []

    # rewritten on the share by something else (same bytes): its ETag changed, so deploy reads its
    # metadata, finds it complete and the same, and uploads nothing
    rewritten = fake_world.share / "aitk" / "inference" / "notes" / "n1" / "4.md"
    rewritten.write_bytes(rewritten.read_bytes())
    mark = len(azure.requests_log)
    third = az.json("aitk", "inference", "deploy", cwd=ws)
    assert third["uploaded"] == 0, third
    heads = [p.split("?")[0] for m, p in _share_requests(azure, mark) if m == "HEAD"]
    assert heads == [f"/{FT_STORAGE}/{FT_SHARE}/aitk/inference/notes/n1/4.md"], heads
