"""ARM error bodies."""

from .http import json_response


class ArmError(Exception):
    def __init__(self, status, code, message, target=None, details=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.target, self.details, self.headers = target, details, headers

    def error(self):
        e = {"code": self.code, "message": self.message}
        if self.target:
            e["target"] = self.target
        if self.details:
            e["details"] = self.details
        return e

    def response(self):
        h = {"x-ms-failure-cause": "gateway"} if self.status == 404 else {}
        h.update(self.headers or {})
        return json_response(self.status, {"error": self.error()}, h)


def rg_not_found(rg):
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")


def resource_not_found(rtype, name, rg):
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{rtype}/{name}' under resource group '{rg}' was not found. For more details "
        "please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def parent_not_found(parent):
    return ArmError(
        404,
        "ParentResourceNotFound",
        f"Failed to perform 'write' on resource(s) of type '{parent[0]}', because the parent resource "
        f"'{parent[1]}' could not be found.",
    )


def missing_registration(ns):
    msg = (
        f"The subscription is not registered to use namespace '{ns}'. See https://aka.ms/rps-not-found for "
        "how to register subscriptions."
    )
    return ArmError(
        409,
        "MissingSubscriptionRegistration",
        msg,
        target=ns,
        details=[{"code": "MissingSubscriptionRegistration", "target": ns, "message": msg}],
    )


def bad_request(code, message, target=None):
    return ArmError(400, code, message, target=target)
