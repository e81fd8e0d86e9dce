import json

from azext_aitk.core import gpu_profiles
from azext_aitk.core.provision import arm_errors as ae


def test_resource_group_missing():
    kind, msg, rec = ae.classify(
        {"code": "ResourceGroupNotFound", "message": "Resource group 'rg1' could not be found."}, resource_group="rg1"
    )
    assert kind == ae.RESOURCE_GROUP_NOT_FOUND and "rg1" in msg and "az group create" in rec


def test_provider_not_registered():
    err = {
        "code": "MissingSubscriptionRegistration",
        "message": "The subscription is not registered to use namespace 'Microsoft.App'.",
    }
    kind, msg, rec = ae.classify(err)
    assert kind == ae.PROVIDER_NOT_REGISTERED and "az provider register -n Microsoft.App" in rec


def test_gpu_quota_names_the_quota_to_request():
    inner = {
        "error": {
            "code": "ManagedEnvironmentWorkloadProfileQuotaExceeded",
            "message": "Not enough quota for workload profile Consumption-GPU-NC8as-T4.",
        }
    }
    err = {
        "code": "DeploymentFailed",
        "message": "At least one resource deployment operation failed.",
        "details": [{"code": "BadRequest", "message": json.dumps(inner)}],
    }
    kind, msg, rec = ae.classify(err, location="westus3", gpu_profile=gpu_profiles.get("T4"))
    assert kind == ae.QUOTA
    assert "westus3" in msg and "Consumption-GPU-NC8as-T4" in msg
    assert "Managed Environment Consumption T4 Gpus" in rec


def test_deployment_failed_names_resource_and_inner_message_not_json():
    inner = {"error": {"code": "InvalidParameterValue", "message": "The image 'nope' was not found."}}
    ops = [
        {"properties": {"provisioningState": "Succeeded"}},
        {
            "properties": {
                "provisioningState": "Failed",
                "targetResource": {"resourceType": "Microsoft.App/containerApps", "resourceName": "app1"},
                "statusMessage": {"error": {"code": "BadRequest", "message": json.dumps(inner)}},
            }
        },
    ]
    failed = ae.failed_operations(ops)
    assert failed[0][0] == "Microsoft.App/containerApps 'app1'"
    kind, msg, _ = ae.classify(failed[0][1], failed_resource=failed[0][0])
    assert kind == ae.DEPLOYMENT_FAILED
    assert (
        msg
        == "deployment failed at Microsoft.App/containerApps 'app1': InvalidParameterValue: The image 'nope' was not found."
    )
    assert "{" not in msg


def test_text_errors_from_az_are_parsed():
    text = (
        '{"code": "InvalidTemplateDeployment", "message": "The template deployment is not valid."}\n\n'
        'Inner Errors: \n{"code": "LocationNotAvailableForResourceType", "message": "The provided location '
        "'mars' is not available for resource type 'Microsoft.App/managedEnvironments'.\"}"
    )
    kind, msg, _ = ae.classify(ae.parse_error_text(text), location="mars")
    assert kind == ae.QUOTA and "mars" in msg
