"""Replica counts: Azure Container Apps' limits, and what an always-on minimum costs.

Limits per revision, from "Set scaling rules in Azure Container Apps"
(https://learn.microsoft.com/azure/container-apps/scale-app, "Scale definition"): the minimum
is 0 to 1,000 (default 0), the maximum 1 to 1,000 (default 10). aitk's own default maximum is 1
(core/provision/provision_plan.py): one GPU replica unless asked.

A minimum above zero keeps that many replicas running while idle: a serverless GPU profile bills
each running replica, a dedicated one each node (core/gpu_profiles.py has the list prices).
"""

from ..errors import ReplicaCountError
from ..gpu_profiles import PRICES_SOURCE, GpuProfile

MIN_REPLICAS_LIMIT = 1000  # the most --min-replicas may be
MAX_REPLICAS_LIMIT = 1000  # the most --max-replicas may be
MAX_REPLICAS_FLOOR = 1  # the least --max-replicas may be
LIMITS_SOURCE = "https://learn.microsoft.com/azure/container-apps/scale-app"


def check(min_replicas: int | None, max_replicas: int | None, source: str = "flags") -> None:
    """Refuse counts outside Azure's limits, or a minimum above the maximum. `source`: "flags"
    for --min-replicas/--max-replicas, else the file or parameter names the values came from."""
    flags = source == "flags"
    min_name = "--min-replicas" if flags else "minReplicas"
    max_name = "--max-replicas" if flags else "maximumInstanceCount"
    where = "" if flags else f" in {source}"
    if min_replicas is not None and not 0 <= min_replicas <= MIN_REPLICAS_LIMIT:
        raise ReplicaCountError(
            f"{min_name} is {min_replicas}{where}; Azure Container Apps allows "
            f"0-{MIN_REPLICAS_LIMIT} ({LIMITS_SOURCE})",
            "Use 0 to let an idle endpoint scale to zero (it costs nothing then), or 1 to keep one replica warm.",
        )
    if max_replicas is not None and not MAX_REPLICAS_FLOOR <= max_replicas <= MAX_REPLICAS_LIMIT:
        raise ReplicaCountError(
            f"{max_name} is {max_replicas}{where}; Azure Container Apps allows "
            f"{MAX_REPLICAS_FLOOR}-{MAX_REPLICAS_LIMIT} ({LIMITS_SOURCE})",
            "Each replica is a GPU: most endpoints need 1-4.",
        )
    if min_replicas is not None and max_replicas is not None and min_replicas > max_replicas:
        raise ReplicaCountError(
            f"{min_name} ({min_replicas}) is more than {max_name} ({max_replicas}){where}",
            "Raise the maximum (--max-replicas) or lower the minimum (--min-replicas).",
        )


def always_on_line(min_replicas: int, profile: GpuProfile | None) -> str | None:
    """What a minimum above zero costs while the endpoint is idle, or None for a minimum of 0."""
    if min_replicas <= 0:
        return None
    unit = "replica" if profile is None or profile.serverless else "node"
    what = f"{min_replicas} {unit}{'s' if min_replicas > 1 else ''}"
    if profile is None or profile.usd_per_hour is None:
        price = f"no list price in aitk's table for {profile.key if profile else 'this profile'} (see {PRICES_SOURCE})"
    else:
        total = profile.usd_per_hour * min_replicas
        price = (
            f"about ${total:.2f}/hour, ${total * 24 * 30:,.0f}/month at the list price of {profile.gpu} "
            f"(${profile.usd_per_hour:.2f}/hour each; vCPU and memory are billed on top, {PRICES_SOURCE})"
        )
    return (
        f"--min-replicas {min_replicas} keeps {what} of {profile.key if profile else 'the GPU profile'} running "
        f"even when idle: {price}. With 0 an idle endpoint costs nothing."
    )
