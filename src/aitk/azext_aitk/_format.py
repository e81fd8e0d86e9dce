"""`-o table` output."""
from collections import OrderedDict


def endpoint_table_format(result):
    row = OrderedDict()
    row["Url"] = result.get("url")
    row["State"] = result.get("state")
    row["Models"] = ", ".join(result.get("models") or []) or "-"
    if result.get("apiKey"):
        row["ApiKey"] = result["apiKey"]
    return [row]
