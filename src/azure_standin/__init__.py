"""A local stand-in for the parts of Azure that aitk uses: Entra ID sign-in, Resource Manager with
template deployments, Microsoft.Storage / OperationalInsights / App, Azure Files and a container
runtime, over HTTPS on 127.0.0.1 with its own CA. Design and interfaces: docs/standin.md.

    from azure_standin import StandIn
    with StandIn(state_dir) as azure:          # HTTPS on 127.0.0.1:<free port>, its own CA
        azure.create_resource_group("rg", "eastus")
        azure.share_dir(account, share)        # the local folder that is the share's content
        azure.set_faults(rate=0.1, seed=1)     # 429/500/503/latency/cut on ARM + Files; set_faults(None)
        azure.requests_log                     # [(method, path?query, status), ...]

The real az signs in to it with aitk_testkit.az_harness. `python -m azure_standin serve --state DIR`
runs it alone; `-p azure_standin.pytest_plugin` gives the session fixture `azure_standin`.
"""

from .server import StandIn

__all__ = ["StandIn"]
