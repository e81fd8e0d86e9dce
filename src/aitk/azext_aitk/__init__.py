"""aitk: serve a LoRA fine-tuned LLM on Azure Container Apps (`az aitk inference …`).

Loaded by az on every invocation that might touch the extension: keep imports here light
(heavy modules are imported inside the command functions).

Tiers (docs/contracts.md "Tiers of the extension"): the registration files here at the top,
operations/ (one module per command) -> azure/ (all network access) -> core/ (pure).
"""

from azure.cli.core import AzCommandsLoader

from azext_aitk._help import helps  # noqa: F401  # pylint: disable=unused-import  # registers the help texts


class AitkCommandsLoader(AzCommandsLoader):
    def __init__(self, cli_ctx=None):
        from azure.cli.core.profiles import ResourceType

        # The deployment code of az's resource module resolves its models through the
        # command's resource type (docs/design.md "Calling az's deployment code").
        # Each command names its own operations module (commands.py).
        super().__init__(cli_ctx=cli_ctx, resource_type=ResourceType.MGMT_RESOURCE_DEPLOYMENTS)

    def load_command_table(self, args):
        from azext_aitk.commands import load_command_table

        load_command_table(self, args)
        return self.command_table

    def load_arguments(self, command):
        from azext_aitk._params import load_arguments

        load_arguments(self, command)


COMMAND_LOADER_CLS = AitkCommandsLoader
