"""All network access of the extension: Azure Resource Manager (az's SDK clients and
send_raw_request), the Azure Files data plane, the app's log stream, and the endpoint the app
serves. One module per resource type; api-versions in api_versions.py, "not found" in
not_found.py, retries in retry.py. SDKs are imported inside the functions, so `--help` loads none.
"""
