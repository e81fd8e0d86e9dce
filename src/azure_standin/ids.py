"""The small facts every part of the stand-in shares: parsed ARM resource ids, location names and
ARM's timestamps. Kept apart so Resource Manager (arm/), the resource providers (providers/) and
deployments import it rather than each other."""

import re
from datetime import datetime, timezone

# Regions the stand-in's subscription offers (GET /subscriptions/{id}/locations).
LOCATIONS = [
    "eastus",
    "eastus2",
    "westus",
    "westus2",
    "westus3",
    "centralus",
    "northeurope",
    "westeurope",
    "swedencentral",
    "australiaeast",
    "uksouth",
    "japaneast",
    # the other regions with serverless GPUs (providers/app.py, GPU_PROFILE_REGIONS)
    "brazilsouth",
    "canadacentral",
    "centralindia",
    "francecentral",
    "italynorth",
    "northcentralus",
    "southcentralus",
    "southeastasia",
    "southindia",
]


def now_iso():
    """A UTC timestamp as ARM writes them (ISO 8601, microseconds, 'Z')."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def norm_location(loc):
    """'East US' -> 'eastus': ARM accepts a region's display name and stores its name."""
    return re.sub(r"\s+", "", str(loc or "")).lower()


class Ident:
    """A parsed ARM path under a resource group: /subscriptions/s/resourceGroups/rg/providers/ns/t/n/..."""

    def __init__(self, sub, rg, ns, types, names, tail=None):
        self.sub, self.rg, self.ns, self.types, self.names, self.tail = sub, rg, ns, types, names, tail
        self.scope = None  # an extension resource: the id of the resource it extends

    @property
    def type(self):
        return "/".join([self.ns] + self.types)

    def parent(self):
        if len(self.types) <= 1:
            return None
        return Ident(self.sub, self.rg, self.ns, self.types[:-1], self.names[:-1])


# The cloud's storage endpoint suffix (`az cloud register --suffix-storage-endpoint`): az's storage
# commands with --account-name/--account-key build host-style URLs `https://{account}.file.{suffix}`
# from it (azure-cli's get_storage_data_service_client / the SDKs' account URL), as on Azure
# (`core.windows.net`). No resolver knows these names; a client reaches them through the stand-in's
# HTTP proxy (StandIn.proxy_url, HTTPS_PROXY; CONNECT to port 443 of such a name only), which
# hands the tunnel to the stand-in's own TLS server, whose certificate also names `*.file.{suffix}`.
# It begins with "core." as every Azure cloud's does (core.windows.net, core.chinacloudapi.cn,
# core.usgovcloudapi.net): the storage SDKs find the account name of a shared-key client by
# splitting the host on ".file.core." (azure-storage-file-share _shared/base_client.py). `.test` is
# reserved and never resolves (RFC 2606); a `.localhost` name would match a NO_PROXY of "localhost".
STORAGE_SUFFIX = "core.standin.test"
