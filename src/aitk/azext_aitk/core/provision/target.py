"""Which resource group provision targets, and why (the order the help states).

`-g` > the workspace's own infra/inference.config.json (what an earlier provision made, even a
partial one) > infra/finetuning.config.json > `az config set defaults.group`.
"""

from dataclasses import dataclass
from typing import Any

from .. import workspace as ws_mod

FROM_FLAG = "-g"
FROM_INFERENCE_CONFIG = ws_mod.INFERENCE_CONFIG_FILE
FROM_FINETUNING_CONFIG = ws_mod.FINETUNING_CONFIG_FILE
FROM_AZ_DEFAULTS = "az config defaults.group"


@dataclass(frozen=True)
class Target:
    resource_group: str | None
    subscription: str | None  # None: az's current one
    source: str | None  # one of the FROM_* values; None when nothing names a group


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def resolve(
    flag_group: str | None,
    az_default_group: str | None,
    inference_config: dict[str, Any],
    finetuning_config: dict[str, Any],
) -> Target:
    """The target. `flag_group` is -g as the user typed it (not az's configured default, which
    comes as `az_default_group`). The subscription is that of the config the group came from;
    with -g or az's default, the inference config's when it names the same group, else
    fine-tuning's (None: az's current subscription)."""
    inf_group = _text(inference_config.get(ws_mod.RESOURCE_GROUP_NAME))
    inf_sub = _text(inference_config.get(ws_mod.SUBSCRIPTION_ID))
    ft_group = _text(finetuning_config.get(ws_mod.RESOURCE_GROUP_NAME))
    ft_sub = _text(finetuning_config.get(ws_mod.SUBSCRIPTION_ID))
    if _text(flag_group):
        group = flag_group.strip()  # type: ignore[union-attr]
        sub = inf_sub if inf_group and inf_group.lower() == group.lower() else ft_sub
        return Target(group, sub, FROM_FLAG)
    if inf_group:
        return Target(inf_group, inf_sub, FROM_INFERENCE_CONFIG)
    if ft_group:
        return Target(ft_group, ft_sub, FROM_FINETUNING_CONFIG)
    if _text(az_default_group):
        return Target(az_default_group.strip(), ft_sub, FROM_AZ_DEFAULTS)  # type: ignore[union-attr]
    return Target(None, ft_sub, None)
