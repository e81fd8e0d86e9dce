"""A local stand-in for the parts of Azure that aitk uses (see runtime_api.md, shared/DESIGN.md)."""
from .server import StandIn

__all__ = ["StandIn"]
