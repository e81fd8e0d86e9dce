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


def status_table_format(result):
    row = OrderedDict()
    row["App"] = result.get("app")
    row["Revision"] = result.get("revision")
    row["State"] = result.get("revisionState")
    row["Replicas"] = result.get("replicas")
    row["Gpu"] = result.get("gpuProfile") or "-"
    row["Scale"] = f"{result.get('minReplicas')}-{result.get('maxReplicas')}"
    row["Ready"] = "yes" if result.get("ready") else "no"
    row["Models"] = ", ".join(result.get("models") or []) or "-"
    if result.get("error"):
        row["Error"] = result["error"]
    return [row]
