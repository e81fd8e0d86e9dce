"""azure/lro.py's reading of Azure's long-running operation answers (as azure-cli's containerapp
client reads them): the status body, the wait between polls."""

import pytest
from azext_aitk.azure import lro


@pytest.mark.parametrize(
    "body,outcome",
    [
        ({"status": "InProgress"}, ("running", "", "")),
        ({"status": "Succeeded"}, ("succeeded", "", "")),
        ({"status": "Failed", "error": {"code": "X", "message": "broke"}}, ("failed", "X", "broke")),
        ({"status": "Canceled"}, ("failed", "Canceled", "")),
        ({}, ("running", "", "")),
    ],
)
def test_operation_status(body, outcome):
    assert lro.operation_status(body) == outcome


@pytest.mark.parametrize(
    "headers,seconds",
    [
        ({"Retry-After": "1"}, 1.0),
        ({"retry-after-ms": "500"}, 0.5),
        ({"x-ms-retry-after-ms": "250"}, 0.25),
        ({"Retry-After": "soon"}, lro.POLL_SECONDS),
        ({}, lro.POLL_SECONDS),
        ({"Retry-After": "3600"}, 60.0),
    ],
)
def test_delay_follows_retry_after(headers, seconds):
    assert lro.delay(headers) == seconds


def test_a_failure_is_one_azure_error_with_azures_code():
    err = lro.OperationFailed.of("adding the workload profile gpu to the environment 'env'", "UpgradeFailed", "x")
    assert str(err) == "adding the workload profile gpu to the environment 'env' failed: UpgradeFailed: x"
    assert err.error.code == "UpgradeFailed" and err.az_error == "AzureResponseError" and err.recommendation
    assert "upgradefailed" in lro.FAILED_STATES
