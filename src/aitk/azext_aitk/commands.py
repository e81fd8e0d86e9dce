from azure.cli.core.commands import CliCommandType
from azure.cli.core.profiles import ResourceType

from azext_aitk._format import endpoint_table_format, status_table_format
from azext_aitk._validators import validate_deploy, validate_provision


def load_command_table(self, _):
    custom = CliCommandType(operations_tmpl="azext_aitk.custom#{}")
    with self.command_group("aitk", custom_command_type=custom, is_preview=True):
        pass
    with self.command_group("aitk inference", custom_command_type=custom,
                            resource_type=ResourceType.MGMT_RESOURCE_DEPLOYMENTS,
                            is_preview=True) as g:
        g.custom_command("init", "inference_init")
        g.custom_command("provision", "inference_provision", validator=validate_provision,
                         supports_no_wait=True)
        g.custom_command("deploy", "inference_deploy", validator=validate_deploy,
                         supports_no_wait=True)
        g.custom_command("endpoint", "inference_endpoint", table_transformer=endpoint_table_format)
        g.custom_command("chat", "inference_chat")
        g.custom_command("status", "inference_status", table_transformer=status_table_format)
        g.custom_command("delete", "inference_delete", supports_no_wait=True)
        g.custom_command("logs", "inference_logs")
