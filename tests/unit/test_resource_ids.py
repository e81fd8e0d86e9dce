"""azure/resource_ids.py: ids built and parsed with azure-mgmt-core's tools, in any case."""

from azext_aitk.azure import container_app_job, deployments, managed_environment, resource_ids


def test_built_ids_parse_back():
    rid = resource_ids.managed_environment("sub", "RG-1", "env")
    assert rid == "/subscriptions/sub/resourceGroups/RG-1/providers/Microsoft.App/managedEnvironments/env"
    parts = resource_ids.parse(rid)
    assert [parts[k] for k in ("subscription", "resource_group", "namespace", "type", "name")] == [
        "sub",
        "RG-1",
        "Microsoft.App",
        "managedEnvironments",
        "env",
    ]
    assert managed_environment.resource_id("sub", "RG-1", "env") == rid
    assert container_app_job.resource_id("s", "g", "j").endswith("/providers/Microsoft.App/jobs/j")
    assert deployments.deployment_id("s", "g").endswith("/providers/Microsoft.Resources/deployments/aitk-inference")


def test_parsing_ignores_the_case_of_the_keywords_and_keeps_the_values():
    rid = "/SUBSCRIPTIONS/sub/resourcegroups/My-RG/PROVIDERS/microsoft.app/MANAGEDENVIRONMENTS/Env/"
    assert resource_ids.group_of(rid) == "My-RG" and resource_ids.name_of(rid) == "Env"
    assert resource_ids.is_type(rid, "Microsoft.App", "managedEnvironments")
    assert resource_ids.same(rid, resource_ids.managed_environment("sub", "my-rg", "env"))
    assert not resource_ids.same(rid, resource_ids.container_app("sub", "my-rg", "env"))


def test_groups_children_and_non_ids():
    assert resource_ids.parse(resource_ids.group_id("s", "g")) == {"subscription": "s", "resource_group": "g"}
    share = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/sa/fileServices/default/shares/sh"
    assert resource_ids.name_of(share) == "sh" and resource_ids.group_of(share) == "g"
    for nothing in (None, "", "nonsense", "https://example.com/subscriptions/s"):
        assert resource_ids.parse(nothing) == {} and resource_ids.name_of(nothing) == ""
    assert not resource_ids.same(None, None) and not resource_ids.same("", "")


def test_the_registry_group_comes_from_its_id():
    registry_id = "/subscriptions/s/RESOURCEGROUPS/Rg/providers/Microsoft.ContainerRegistry/registries/r"
    assert resource_ids.group_of(registry_id) == "Rg"


def test_no_other_module_builds_or_parses_a_resource_id():
    """One home for ids: a '/subscriptions/' or 'resourceGroups/' text in code (not in a comment or
    docstring) appears only in azure/resource_ids.py, and in core/monitor/console_log.py, which
    builds the log stream's URLs (a data-plane path on the stream's own host, not a resource id)."""
    import ast
    import re
    from pathlib import Path

    root = Path(resource_ids.__file__).resolve().parents[1]
    allowed = {root / "azure" / "resource_ids.py", root / "core" / "monitor" / "console_log.py"}
    pattern = re.compile(r"/subscriptions/|resourcegroups/", re.IGNORECASE)
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if path in allowed:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                if pattern.search(node.value):
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []
    assert pattern.search('f"/subscriptions/{s}"')  # what the rule looks for
