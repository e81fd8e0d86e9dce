"""The command table: one operations module per command, one exception handler for all."""

from azure.cli.core.commands import CliCommandType
from azure.cli.core.profiles import ResourceType

from azext_aitk._exception_handler import exception_handler
from azext_aitk._format import (
    bench_table_format,
    compare_table_format,
    endpoint_table_format,
    status_table_format,
)
from azext_aitk._validators import validate_deploy, validate_key_rotate, validate_provision, validate_wait


def _operations(command):
    return CliCommandType(operations_tmpl=f"azext_aitk.operations.{command}#{{}}")


def load_command_table(self, _):
    with self.command_group("aitk", is_preview=True):
        pass
    with self.command_group(
        "aitk inference",
        resource_type=ResourceType.MGMT_RESOURCE_DEPLOYMENTS,
        exception_handler=exception_handler,
        is_preview=True,
    ) as g:
        g.custom_command("init", "inference_init", custom_command_type=_operations("init"))
        g.custom_command(
            "provision",
            "inference_provision",
            custom_command_type=_operations("provision"),
            validator=validate_provision,
            supports_no_wait=True,
        )
        g.custom_command(
            "deploy",
            "inference_deploy",
            custom_command_type=_operations("deploy"),
            validator=validate_deploy,
            supports_no_wait=True,
        )
        g.custom_command(
            "endpoint",
            "inference_endpoint",
            custom_command_type=_operations("endpoint"),
            table_transformer=endpoint_table_format,
        )
        g.custom_command("chat", "inference_chat", custom_command_type=_operations("chat"))
        g.custom_command(
            "compare",
            "inference_compare",
            custom_command_type=_operations("compare"),
            table_transformer=compare_table_format,
        )
        g.custom_command(
            "bench",
            "inference_bench",
            custom_command_type=_operations("bench"),
            table_transformer=bench_table_format,
        )
        g.custom_command(
            "status",
            "inference_status",
            custom_command_type=_operations("status"),
            table_transformer=status_table_format,
        )
        g.custom_command("delete", "inference_delete", custom_command_type=_operations("delete"), supports_no_wait=True)
        g.custom_command("logs", "inference_logs", custom_command_type=_operations("logs"))
        g.custom_command("wait", "inference_wait", custom_command_type=_operations("wait"), validator=validate_wait)
    with self.command_group(
        "aitk inference adapter",
        resource_type=ResourceType.MGMT_RESOURCE_DEPLOYMENTS,
        exception_handler=exception_handler,
        is_preview=True,
    ) as g:
        g.custom_command("remove", "inference_adapter_remove", custom_command_type=_operations("adapter_remove"))
    with self.command_group(
        "aitk inference key",
        resource_type=ResourceType.MGMT_RESOURCE_DEPLOYMENTS,
        exception_handler=exception_handler,
        is_preview=True,
    ) as g:
        g.custom_command(
            "rotate",
            "inference_key_rotate",
            custom_command_type=_operations("key"),
            validator=validate_key_rotate,
            supports_no_wait=True,
        )
