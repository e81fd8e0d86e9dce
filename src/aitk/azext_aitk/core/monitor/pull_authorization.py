"""Whether a refused image pull is a new AcrPull role that has not taken effect yet (wait for it)
or a real refusal (say so at once). Pure: the caller passes the failure's text, when the app's pull
identity got AcrPull on the registry (the role assignments' createdOn) and the time now.

A role assignment takes effect minutes after it exists: "Azure RBAC propagation can take 1-5
minutes, so the Container App revision fails to pull the image from ACR"
(microsoft/GitHub-Copilot-for-Azure PR #1701; microsoft/azure-container-apps #646), and Learn's
RBAC troubleshooting page says role changes can take a while to take effect
(https://learn.microsoft.com/azure/role-based-access-control/troubleshooting). The replica retries
the pull by itself (ImagePullBackOff), so deploy waits while the role is younger than the allowance
instead of failing a first deploy that would have worked a minute later."""

from collections.abc import Iterable
from datetime import datetime

# The AcrPull built-in role:
# https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/containers#acrpull
ACR_PULL_ROLE_ID = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
# Twice the 5 minutes the reports above saw: an older role that still does not let the pull through
# is a real refusal (wrong registry, role deleted), said at once.
PROPAGATION_ALLOWANCE_S = 600


def _parse(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None


def is_unauthorized(failure_message: str) -> bool:
    return "unauthorized" in (failure_message or "").lower()


def role_age_s(granted_at: Iterable[str], now: datetime) -> float | None:
    """Seconds since the newest AcrPull assignment was made (None: there is none, or no date)."""
    times = [t for t in (_parse(s) for s in granted_at) if t is not None]
    return (now - max(times)).total_seconds() if times else None


def still_propagating(failure_message: str, granted_at: Iterable[str], now: datetime) -> float | None:
    """The role's age when a refused pull is a role that may not have taken effect yet, else None."""
    if not is_unauthorized(failure_message):
        return None
    age = role_age_s(granted_at, now)
    if age is None or age >= PROPAGATION_ALLOWANCE_S:
        return None
    return max(0.0, age)


def waiting_line(age_s: float) -> str:
    return (
        f"The registry refused the image pull: the app's identity got its AcrPull role {int(age_s)} s ago, and "
        f"Azure takes minutes to apply a new role; the replica retries the pull, so deploy waits (up to "
        f"{PROPAGATION_ALLOWANCE_S // 60} min after the grant) instead of failing."
    )
