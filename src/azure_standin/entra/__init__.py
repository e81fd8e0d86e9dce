"""Microsoft Entra ID (the identity platform az signs in with): OIDC metadata, instance discovery and the
client-credentials token endpoint. https://learn.microsoft.com/entra/identity-platform/"""

from .identity_platform import Entra

__all__ = ["Entra"]
