"""(5) Security facts, asserted directly on inference.json (and on the Bicep through pycep)."""

import json
import re

from template import _arm


def test_storage_transport_and_public_access(resources):
    p = resources["Microsoft.Storage/storageAccounts"]["properties"]
    assert p["minimumTlsVersion"] == "TLS1_2"
    assert p["supportsHttpsTrafficOnly"] is True
    assert p["allowBlobPublicAccess"] is False


def test_ingress_https_only(resources):
    ingress = resources["Microsoft.App/containerApps"]["properties"]["configuration"]["ingress"]
    assert ingress["allowInsecure"] is False
    assert ingress["external"] is True and ingress["transport"] == "auto"


KEY_PARAMETERS = {
    "apiKey": ("api-key", "AITK_API_KEY"),
    "apiKeySecondary": ("api-key-secondary", "AITK_API_KEY_SECONDARY"),
}


def test_api_keys_are_secure_and_only_secrets(template, resources):
    """Both keys (primary and secondary, for rotation): secure, no default, used once each as a
    secret's value, reaching the container only as secretRefs."""
    text = json.dumps(template)
    secrets = resources["Microsoft.App/containerApps"]["properties"]["configuration"]["secrets"]
    (container,) = resources["Microsoft.App/containerApps"]["properties"]["template"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    for param, (secret, var) in KEY_PARAMETERS.items():
        assert template["parameters"][param]["type"] == "securestring"
        assert "defaultValue" not in template["parameters"][param]
        uses = re.findall(rf"parameters\('{param}'\)", text)
        assert len(uses) == 1, f"{param} is used once: as the secret's value"
        assert env[var] == {"name": var, "secretRef": secret}
    assert secrets == [{"name": s, "value": f"[parameters('{p}')]"} for p, (s, _) in KEY_PARAMETERS.items()]
    for e in container["env"]:
        assert "apiKey" not in json.dumps(e)
    assert "apiKey" not in json.dumps(container["command"]) + json.dumps(template["parameters"]["defaultCommands"])


def test_no_secret_in_outputs(template):
    outputs = json.dumps(template["outputs"])
    for secret in ("apiKey", "listKeys", "list(", "secret", "sharedKey", "accountKey", "secrets"):
        assert secret not in outputs
    for name, o in template["outputs"].items():
        assert o["type"] == "string", name  # not securestring/secureObject data leaking


def test_keys_only_where_needed(template, resources):
    """Account and workspace keys are read only into the two properties that need them."""
    text = json.dumps(template)
    assert text.count("listKeys(") == 2
    assert (
        "listKeys(" in resources["Microsoft.App/managedEnvironments/storages"]["properties"]["azureFile"]["accountKey"]
    )
    assert (
        "listKeys("
        in resources["Microsoft.App/managedEnvironments"]["properties"]["appLogsConfiguration"][
            "logAnalyticsConfiguration"
        ]["sharedKey"]
    )


def test_parameters_file_has_no_secret():
    text = _arm.PARAMETERS.read_text(encoding="utf-8")
    assert "apiKey" not in text and "Key" not in text


def test_bicep_side(compiled):
    for param in KEY_PARAMETERS:
        assert compiled.parameters()[param]["type"] == "securestring"
    app = list(compiled.arm_resources().values())[-1]
    assert app["properties"]["configuration"]["ingress"]["allowInsecure"] is False
    assert "apiKey" not in json.dumps(compiled.outputs())
