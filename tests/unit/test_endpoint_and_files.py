"""The endpoint URL the key may go to, secrets kept out of az's log, and the workspace files'
modes and writability (issue 12, the extension)."""

import io
import json
import logging
import os
import stat

import pytest
from azext_aitk.azure import secret_logging
from azext_aitk.core import workspace as w
from azext_aitk.core.endpoint import endpoint_url
from azext_aitk.core.errors import EndpointError, WorkspaceError
from azext_aitk.core.init import init_files, workspace_files

FQDN = "myapp.happyhill-1234.eastus.azurecontainerapps.io"


@pytest.mark.parametrize(
    "configured",
    [
        f"https://{FQDN}",
        f"https://{FQDN}/",
        f"{FQDN}",
        f"HTTPS://{FQDN.upper()}",
        f"https://{FQDN}:443",
        "",
        None,
    ],
)
def test_the_url_is_the_apps_own_ingress_over_https(configured):
    assert endpoint_url.app_url(FQDN, configured, "infra/inference.config.json", "myapp") == f"https://{FQDN}"


@pytest.mark.parametrize(
    ("configured", "needle"),
    [
        (f"http://{FQDN}", "not https"),
        ("https://collector.example.com", "is not container app 'myapp'"),
        ("collector.example.com", "is not container app 'myapp'"),
        (f"https://{FQDN}.evil.example", "is not container app"),
        (f"https://{FQDN}@evil.example", "is not container app"),
        (f"https://{FQDN}:8443", "is not container app"),
        (f"https://{FQDN}/v1/../../x", "is not container app"),
        (f"ftp://{FQDN}", "not https"),
    ],
)
def test_another_host_or_scheme_is_refused_in_one_line(configured, needle):
    with pytest.raises(EndpointError) as e:
        endpoint_url.app_url(FQDN, configured, "infra/inference.config.json", "myapp")
    assert needle in str(e.value) and "infra/inference.config.json" in str(e.value)
    assert "\n" not in str(e.value) and f"https://{FQDN}" in e.value.recommendation


def test_no_ingress_is_refused():
    with pytest.raises(EndpointError, match="no ingress FQDN"):
        endpoint_url.app_url(None, f"https://{FQDN}", "f", "myapp")


def test_redacted_rewrites_every_record_that_holds_the_secret():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    log = logging.getLogger("aitk-test-redact")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        with secret_logging.redacted("s3cret-key", None):
            log.debug('Request body: {"apiKey": {"value": "%s"}}', "s3cret-key")
            log.debug("nothing to hide")
        log.debug("after: %s", "s3cret-key")  # outside: the filter is gone again
    finally:
        log.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines[0] == 'Request body: {"apiKey": {"value": "***"}}'
    assert lines[1] == "nothing to hide" and lines[2] == "after: s3cret-key"


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_new_files_honour_the_umask_and_old_ones_keep_their_mode(tmp_path, umask_022):
    ws = w.Workspace(tmp_path)
    init_files.init_workspace(ws)
    for rel in (w.BICEP_FILE, w.PARAMETERS_FILE, w.SERVE_FILE):
        assert _mode(ws.path(rel)) == 0o644, rel
    w.write_json_atomic(ws.inference_config_file, {"a": 1})
    assert _mode(ws.inference_config_file) == 0o644
    os.chmod(ws.inference_config_file, 0o640)
    w.write_json_atomic(ws.inference_config_file, {"a": 2})
    assert _mode(ws.inference_config_file) == 0o640
    os.chmod(ws.bicep_file, 0o600)
    ws.bicep_file.write_text("edited")
    init_files.init_workspace(ws, force=True)
    assert _mode(ws.bicep_file) == 0o600
    os.umask(0o077)
    w.write_json_atomic(tmp_path / "new.json", {})
    assert _mode(tmp_path / "new.json") == 0o600


def test_check_writable_names_the_path_in_one_line(tmp_path):
    (tmp_path / "infra").write_text("a file where the folder should be")
    target = tmp_path / "infra" / "inference.config.json"
    with pytest.raises(WorkspaceError) as e:
        workspace_files.check_writable(target)
    assert str(target) in str(e.value) and "\n" not in str(e.value)
    workspace_files.check_writable(tmp_path / "fine" / "deeper" / "x.json")  # folders to be made: fine
    assert not (tmp_path / "fine").exists()


def test_init_in_an_unwritable_place_is_one_line(tmp_path):
    (tmp_path / "infra").write_text("not a folder")
    with pytest.raises(WorkspaceError) as e:
        init_files.init_workspace(w.Workspace(tmp_path))
    assert "cannot write" in str(e.value) and "inference.bicep" in str(e.value)


def test_a_config_that_cannot_be_written_carries_its_values(tmp_path):
    err = workspace_files.not_written(tmp_path / "c.json", PermissionError(13, "Permission denied"), {"K": "v"})
    assert "Permission denied" in str(err) and json.dumps({"K": "v"}).strip("{}") in err.recommendation
