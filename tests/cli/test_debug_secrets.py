"""`--debug` through the real az against the stand-in: deploy's start-up watch reads the app's
system log each tick with a getAuthToken token (the log streams' credential); neither that token
nor the API keys reach az's debug log."""

import re

from aitk_testkit.az_harness import ok
from aitk_testkit.scenario import FAKE_PARAMETERS

RG = "aitk-debug"
JWT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")


def test_deploy_debug_keeps_the_log_stream_token_and_the_keys_out(az_cloud, standin, fake_finetuning, provision_fake):
    ws, _ = fake_finetuning("debug", RG, "aitkdebugft01", "finetuning", placeholder_model=False, job_name="job")
    provision_fake(ws, RG, "--min-replicas", "1", "--yes", *FAKE_PARAMETERS, "-o", "json")
    keys = ok(az_cloud("aitk", "inference", "endpoint", "--show-key", cwd=ws))
    mark = len(standin.requests_log)
    proc = az_cloud("aitk", "inference", "deploy", "--timeout", "120", "--debug", "-o", "none", cwd=ws)
    ok(proc, parse=False)
    assert any(p.lower().split("?")[0].endswith("/getauthtoken") for _, p, _ in standin.requests_log[mark:])
    assert "Response content" in proc.stderr  # --debug logged the other answers
    assert not JWT.findall(proc.stderr), JWT.findall(proc.stderr)[:1]
    assert keys["apiKey"] not in proc.stderr and keys["secondaryApiKey"] not in proc.stderr
