"""The one rule for "that resource does not exist", over every client style the extension uses:
azure-core's ResourceNotFoundError (SDK clients, the share), an HttpResponseError with 404, and
az's HTTPError from send_raw_request (the status is on its .response)."""


def status_code(ex):
    """The HTTP status of an exception from azure-core or from send_raw_request, else None."""
    return getattr(getattr(ex, "response", None), "status_code", None) or getattr(ex, "status_code", None)


def is_not_found(ex):
    from azure.core.exceptions import ResourceNotFoundError

    return isinstance(ex, ResourceNotFoundError) or status_code(ex) == 404


def exists(call, *args):
    """True when call(*args) succeeds, False when it says "not found"; other errors propagate."""
    try:
        call(*args)
        return True
    except Exception as ex:  # pylint: disable=broad-except
        if is_not_found(ex):
            return False
        raise
