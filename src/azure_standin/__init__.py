"""A local stand-in for the parts of Azure that aitk uses (shared/DESIGN.md, "The local Azure stand-in").

    from azure_standin import StandIn
    with StandIn(state_dir) as azure:          # HTTPS on 127.0.0.1:<free port>, its own CA
        env = dict(os.environ, **azure.az_env(config_dir))
        azure.az_login(az_executable, env)     # custom cloud + service-principal sign-in
        azure.create_resource_group("rg", "eastus")
        azure.share_dir(account, share)        # the local folder that is the share's content
        azure.set_faults(rate=0.1, seed=1)     # 429/500/503/latency/cut on ARM + Files; set_faults(None)
        azure.requests_log                     # [(method, path?query, status), ...]

Files: server.py (HTTPS server, StandIn, faults), auth.py (Entra: OIDC metadata, token endpoint),
manager.py (Resource Manager routing, groups, providers, generic resources), resources.py (the
resource types and their shapes), deployments.py (template deployments, operations, validate,
what-if), arm.py (the template evaluator), uniquestring.py, jsonc.py, tls.py, errors.py, http.py
(Request/Response), files.py (Azure Files data plane) and runtime.py (container runtime, ingress),
runtime_api.md (the runtime interface). `python -m azure_standin serve --state DIR` runs it alone;
`-p azure_standin.pytest_plugin` gives the session fixture `azure_standin`.
"""
from .server import StandIn

__all__ = ["StandIn"]
