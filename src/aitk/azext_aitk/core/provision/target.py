"""Which resource group provision targets, and why (the order the help states).

`-g` > the workspace's own infra/inference.config.json (what an earlier provision made, even a
partial one) > infra/finetuning.config.json > `az config set defaults.group`.
"""

from dataclasses import dataclass
from typing import Any

from .. import workspace as ws_mod
from ..errors import ParameterError, SubscriptionNotVisibleError

FROM_FLAG = "-g"
FROM_INFERENCE_CONFIG = ws_mod.INFERENCE_CONFIG_FILE
FROM_FINETUNING_CONFIG = ws_mod.FINETUNING_CONFIG_FILE
FROM_AZ_DEFAULTS = "az config defaults.group"


@dataclass(frozen=True)
class Target:
    resource_group: str | None
    subscription: str | None  # None: az's current one
    source: str | None  # one of the FROM_* values; None when nothing names a group
    subscription_source: str | None = None  # the config file that named the subscription, or None


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
    inf_named = FROM_INFERENCE_CONFIG if inf_sub else None
    ft_named = FROM_FINETUNING_CONFIG if ft_sub else None
    if _text(flag_group):
        group = flag_group.strip()  # type: ignore[union-attr]
        if inf_group and inf_group.lower() == group.lower():
            return Target(group, inf_sub, FROM_FLAG, inf_named)
        return Target(group, ft_sub, FROM_FLAG, ft_named)
    if inf_group:
        return Target(inf_group, inf_sub, FROM_INFERENCE_CONFIG, inf_named)
    if ft_group:
        return Target(ft_group, ft_sub, FROM_FINETUNING_CONFIG, ft_named)
    if _text(az_default_group):
        return Target(az_default_group.strip(), ft_sub, FROM_AZ_DEFAULTS, ft_named)  # type: ignore[union-attr]
    return Target(None, ft_sub, None, ft_named)


def subscription_not_visible(subscription: str, source: str | None) -> SubscriptionNotVisibleError:
    """az does not know the subscription a config file (or --subscription) names: the signed-in
    account cannot see it. `source`: the file that named it (None: --subscription)."""
    where = f"{source} names the subscription" if source else "--subscription names"
    return SubscriptionNotVisibleError(
        f"{where} '{subscription}', which the signed-in account cannot see",
        "Run `az account list -o table` to see the subscriptions you can use, `az login` to sign in to "
        "the account that holds it"
        + (f", or fix SUBSCRIPTION_ID in {source}." if source else ", or pass another --subscription."),
    )


def no_resource_group() -> ParameterError:
    """Nothing names the resource group provision deploys to."""
    return ParameterError(
        "no resource group: pass -g, or run in a workspace whose infra/finetuning.config.json names one",
        "az aitk inference provision -g my-rg  (or `az config set defaults.group=my-rg`)",
    )
