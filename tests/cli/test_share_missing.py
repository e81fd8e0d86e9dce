"""A share that does not exist, as the real az meets it against the stand-in: one line naming the
share, the config key that names it (and its file) and the fix. (Provision creates the share
fine-tuning's config names when it is missing: no error there.)"""

import json

from aitk_testkit.az_harness import one_error
from aitk_testkit.scenario import FAKE_PARAMETERS

RG = "aitk-noshare"


def test_a_share_that_does_not_exist_names_the_share_the_key_and_the_fix(az_cloud, fake_finetuning, provision_fake):
    ws, _ = fake_finetuning("noshare", RG, "aitknoshare01", "finetuning", placeholder_model=False, job_name="job")
    provision_fake(ws, RG, *FAKE_PARAMETERS, "-o", "json", wait_ready=False)
    config_path = ws / "infra" / "inference.config.json"
    config = json.loads(config_path.read_text())
    config["FILE_SHARE_NAME"] = "no-such-share"
    config_path.write_text(json.dumps(config, indent=2))
    proc = az_cloud("aitk", "inference", "deploy", "--no-wait", cwd=ws)
    line = one_error(proc, "az storage share-rm list --storage-account aitknoshare01")
    assert (
        "the file share 'no-such-share' in storage account 'aitknoshare01' does not exist "
        f"(FILE_SHARE_NAME in {config_path} names it)"
    ) in line
    assert "RequestId" not in proc.stderr and "ErrorCode" not in proc.stderr
    assert len([x for x in proc.stderr.splitlines() if x.strip()]) <= 4  # preview note, the plan, ERROR, the fix
