"""Azure Files, the data plane (path-style URLs under the stand-in's host): shares, directories, files,
ranges, metadata, Shared Key auth. https://learn.microsoft.com/rest/api/storageservices/file-service-rest-api"""

from .data_plane import check_auth, forget_share, handle, sidecar_dir, string_to_sign

__all__ = ["check_auth", "forget_share", "handle", "sidecar_dir", "string_to_sign"]
