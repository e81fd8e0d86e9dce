"""Retries beyond what azure-core does by itself: replies lost on POSTs that are safe to repeat,
and 429 Too Many Requests on the Azure Files data plane."""

import time

THROTTLE_RETRIES = 6


def retry_lost(call, *args, attempts=3, **kwargs):
    """Run an SDK operation that is safe to repeat (listKeys, listSecrets, restart) again when
    its reply was lost (connection dropped before or while the response came back): azure-core
    repeats only idempotent methods then, and these are POSTs."""
    from azure.core.exceptions import IncompleteReadError, ServiceResponseError

    for attempt in range(attempts):
        try:
            return call(*args, **kwargs)
        except (ServiceResponseError, IncompleteReadError):
            if attempt == attempts - 1:
                raise
            time.sleep(1.0 + attempt)
    return None


def share_retry_policy(initial_backoff=2, increment_base=2, retry_total=5, **kwargs):
    """The storage SDK's ExponentialRetry, which also waits out 429 Too Many Requests: the SDK
    retries 5xx and 408 (Azure Storage throttles with 503 ServerBusy) but gives up on a 429,
    which fails the whole deploy; here a 429 is retried after its Retry-After (else a backoff).
    Waits of 2, 4, 6, 10, 18 s instead of the SDK's 15, 18, 24 s: one transient error in a
    deploy of many files should not stall it for 15 s."""
    from azure.storage.fileshare import ExponentialRetry

    class _Retry(ExponentialRetry):
        def send(self, request):
            body = request.http_request.body
            position = body.tell() if hasattr(body, "seek") and hasattr(body, "tell") else None
            for attempt in range(THROTTLE_RETRIES + 1):
                response = super().send(request)
                if response.http_response.status_code != 429 or attempt == THROTTLE_RETRIES:
                    return response
                time.sleep(retry_after(response.http_response.headers, attempt))
                if position is not None:
                    body.seek(position)
            return response

    return _Retry(initial_backoff=initial_backoff, increment_base=increment_base, retry_total=retry_total, **kwargs)


def retry_after(headers, attempt):
    """Seconds to wait before retrying a 429: its Retry-After (seconds), else 1, 2, 4, … s."""
    try:
        return min(max(float(headers.get("Retry-After")), 0.0), 60.0)
    except (TypeError, ValueError):
        return float(min(2**attempt, 30))
