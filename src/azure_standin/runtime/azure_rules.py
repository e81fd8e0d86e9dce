"""The numbers and rules of Azure Container Apps that the stand-in's runtime plays, each with its source.

Every duration here is Azure's real one in seconds; the runtime multiplies it by its one
`time_scale` (1.0 = Azure's timing; tests pass e.g. 0.02 so the 240 s idle timeout takes 4.8 s).
"""

from dataclasses import dataclass

# The ingress limit is an idle timeout: "requestIdleTimeout: Duration (in minutes) before idle
# requests are timed out. Must be between 4 and 30 inclusive. Defaults to 4 minutes."
# (Microsoft.App IngressConfiguration, https://learn.microsoft.com/azure/container-apps/premium-ingress);
# ingress-overview states the same default as "Request timeout is 240 seconds"
# (https://learn.microsoft.com/azure/container-apps/ingress-overview#protocol-types). The clock restarts
# on every byte in either direction, so a stream that keeps sending is never cut; a request that waits
# for a replica, or for the first byte of an answer, sends nothing and is.
INGRESS_IDLE_TIMEOUT_S = 240.0
# Envoy's own bodies with its 504: a route timeout while no replica takes the request, and the
# stream idle timeout once one has it but sends nothing (both as users report them from ACA:
# microsoft/azure-container-apps #597 and #1637).
INGRESS_TIMEOUT_BODY = "upstream request timeout"
INGRESS_IDLE_BODY = "stream timeout"

# scale.cooldownPeriod: "KEDA Cooldown Period in seconds. Defaults to 300 seconds if not set"
# (Microsoft.App 2025-07-01 CommonDefinitions.json, Scale); the revision scales to zero after it
# passes with no request: https://learn.microsoft.com/azure/container-apps/scale-app#scale-behavior
DEFAULT_COOLDOWN_S = 300.0
# The HTTP scale rule, as Learn's scale-app page documents it
# (https://learn.microsoft.com/azure/container-apps/scale-app#http): "Every 15 seconds, the number of
# concurrent requests is calculated as the number of requests in the past 15 seconds divided by 15."
# Its default concurrentRequests is 10 (min 1). The page's "Scale behavior" table: polling interval
# 30 s ("doesn't apply to HTTP and TCP scale rules": those are evaluated on the 15 s window above),
# cool down period 300 s, scale up stabilization window 0 s, scale down stabilization window 300 s,
# scale up step 1, 4, 8, 16, 32, ... up to maxReplicas, scale down step 100% of the replicas that
# need to shut down, and the algorithm desiredReplicas = ceil(currentMetricValue / targetMetricValue).
# ACA exposes only cooldownPeriod: the stand-in uses it for the scale-down window too (both 300 s
# by default), so a revision scales in once the rule has asked for fewer replicas for that long.
HTTP_SCALE_WINDOW_S = 15.0
DEFAULT_CONCURRENT_REQUESTS = 10
# maxReplicas: "Maximum number of replicas per revision", default 10, at most 30 (scale-app.md,
# "Scale definition"); minReplicas default 0.
DEFAULT_MAX_REPLICAS = 10
SCALE_UP_STEPS = (1, 4, 8, 16, 32)


def http_desired_replicas(
    requests_in_window: int, concurrent_requests: float, min_replicas: int, max_replicas: int
) -> int:
    """What the HTTP scale rule asks for: the requests that arrived in the past 15 s divided by 15,
    over the rule's concurrentRequests, rounded up, within [minReplicas, maxReplicas]."""
    metric = requests_in_window / HTTP_SCALE_WINDOW_S
    target = max(1.0, float(concurrent_requests))
    desired = -(-metric // target)  # ceil
    return int(max(min_replicas, min(max_replicas, desired)))


def scale_up_step(current: int, desired: int) -> int:
    """The replica count one scale-out reaches: the next step of 1, 4, 8, 16, 32, ... above
    `current` (then doubling), never past `desired`."""
    steps = list(SCALE_UP_STEPS)
    while steps[-1] <= current:
        steps.append(steps[-1] * 2)
    nxt = next(s for s in steps if s > current)
    return min(desired, nxt)


# Health probes: https://learn.microsoft.com/azure/container-apps/health-probes
# With ingress enabled and no probe of a type configured, Azure adds TCP probes on the target port:
# startup period 1 s x failureThreshold 240, readiness period 5 s x 48, liveness TCP
# ("Default configuration" table of health-probes.md).
DEFAULT_PROBES = {
    "startup": {"initialDelaySeconds": 1, "periodSeconds": 1, "timeoutSeconds": 3, "failureThreshold": 240},
    "readiness": {"initialDelaySeconds": 0, "periodSeconds": 5, "timeoutSeconds": 5, "failureThreshold": 48},
    "liveness": {"initialDelaySeconds": 0, "periodSeconds": 10, "timeoutSeconds": 1, "failureThreshold": 3},
}
# Field limits the service enforces (health-probes.md "Restrictions": initialDelaySeconds 0-60,
# periodSeconds 1-240, timeoutSeconds 1-240; failureThreshold as the API accepts it, which
# terraform-provider-azurerm matched in PR 31989: startup up to 240, readiness up to 48,
# liveness up to 10 as the swagger text says).
PROBE_LIMITS = {
    "initialDelaySeconds": (0, 60),
    "periodSeconds": (1, 240),
    "timeoutSeconds": (1, 240),
    "successThreshold": (1, 10),
}
FAILURE_THRESHOLD_MAX = {"startup": 240, "readiness": 48, "liveness": 10}

# Revision running states. The REST enum RevisionRunningState (x-ms-enum modelAsString: an open set)
# is Running, Processing, Stopped, Degraded, Failed, Unknown in the newest stable api-version
# (azure-rest-api-specs specification/app/resource-manager/Microsoft.App/ContainerApps/stable/
# 2026-01-01/ContainerAppsRevisions.json, as in 2025-07-01). A revision whose first replica is
# being scheduled, pulled or started is in transition: "Processing" (Learn's running-status table
# names it "Activating" / "Scaling / Processing"). A revision with no replica and none wanted:
# Learn's table lists "Scaled to 0" (https://learn.microsoft.com/azure/container-apps/revisions#running-status),
# which the enum lacks; the stand-in reports it as "ScaledToZero", the string clients of the live API
# report seeing (not a documented enum value: clients must treat runningState as open). A cold app is
# never Failed.
RUNNING = "Running"
PROCESSING = "Processing"
SCALED_TO_ZERO = "ScaledToZero"
FAILED = "Failed"
DEGRADED = "Degraded"

# The system log's reason for an image pull the registry refuses (unauthorized, unknown tag).
# https://learn.microsoft.com/azure/container-apps/troubleshoot-deployment-errors
PULL_FAILED = "ImagePullBackOff"

# Known image sizes (compressed, as pulled) for the optional pull delay; others count as 1 GiB.
# vllm/vllm-openai:v0.32.0 is ~10 GB (Docker Hub, linux/amd64).
IMAGE_SIZES_GB = {"vllm/vllm-openai": 10.0, "docker.io/vllm/vllm-openai": 10.0}
DEFAULT_IMAGE_SIZE_GB = 1.0


@dataclass(frozen=True)
class Probe:
    kind: str  # startup | readiness | liveness
    path: str | None  # httpGet path; None = TCP connect
    initial_delay: float
    period: float
    timeout: float
    failure_threshold: int


def probe_errors(probes: list) -> list[str]:
    """What Azure refuses in a container's probes (one line each), [] when all fit the limits."""
    errors = []
    for p in probes or []:
        kind = str(p.get("type") or "").lower()
        if kind not in FAILURE_THRESHOLD_MAX:
            errors.append(f"probe type '{p.get('type')}' is not one of Liveness, Readiness, Startup")
            continue
        for field, (lo, hi) in PROBE_LIMITS.items():
            v = p.get(field)
            if v is not None and not (isinstance(v, int) and lo <= v <= hi):
                errors.append(f"{p.get('type')} probe {field} must be between {lo} and {hi}, not {v}")
        ft = p.get("failureThreshold")
        if ft is not None and not (isinstance(ft, int) and 1 <= ft <= FAILURE_THRESHOLD_MAX[kind]):
            errors.append(
                f"{p.get('type')} probe failureThreshold must be between 1 and {FAILURE_THRESHOLD_MAX[kind]}, not {ft}"
            )
    return errors


def effective_probes(configured: list) -> dict[str, Probe]:
    """The probes a replica runs: the configured ones, Azure's TCP defaults for the others."""
    by_kind = {str(p.get("type") or "").lower(): p for p in configured or []}
    out = {}
    for kind, default in DEFAULT_PROBES.items():
        p = by_kind.get(kind)
        fields = dict(default)
        path = None
        if p is not None:
            fields.update({k: p[k] for k in default if p.get(k) is not None})
            path = (p.get("httpGet") or {}).get("path") or None
            if p.get("httpGet") is not None and not path:
                path = "/"
        out[kind] = Probe(
            kind,
            path,
            float(fields["initialDelaySeconds"]),
            float(fields["periodSeconds"]),
            float(fields["timeoutSeconds"]),
            int(fields["failureThreshold"]),
        )
    return out


def image_size_gb(image: str) -> float:
    """The pull size of an image, wherever it is pulled from: an import into a registry
    (provision --image-registry) keeps the image's layers, so myacr.azurecr.io/vllm/vllm-openai
    pulls as much as Docker Hub's."""
    repo = (image or "").split("@", 1)[0].rsplit(":", 1)[0] if "/" in (image or "") else (image or "")
    if repo in IMAGE_SIZES_GB:
        return IMAGE_SIZES_GB[repo]
    host, _, path = repo.partition("/")
    if path and ("." in host or ":" in host):  # a registry host before the repository
        return IMAGE_SIZES_GB.get(path, DEFAULT_IMAGE_SIZE_GB)
    return DEFAULT_IMAGE_SIZE_GB
