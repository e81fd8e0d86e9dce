"""Argument checks that need no Azure: they run before the command, so mistakes fail fast."""

from azure.cli.core.azclierror import InvalidArgumentValueError, MutuallyExclusiveArgumentError


def validate_replicas(namespace):
    """--min-replicas/--max-replicas within Azure Container Apps' limits (core/provision/replicas.py)."""
    from azext_aitk._exception_handler import to_az_error
    from azext_aitk.core.errors import ReplicaCountError
    from azext_aitk.core.provision import replicas

    try:
        replicas.check(getattr(namespace, "min_replicas", None), getattr(namespace, "max_replicas", None))
    except ReplicaCountError as e:
        raise to_az_error(e) from None


def validate_resource_group_name(namespace):
    """-g as typed (az's configured default is checked where it is used: the workspace's config
    may win over it)."""
    from knack.validators import DefaultStr

    from azext_aitk._exception_handler import to_az_error
    from azext_aitk.core import names
    from azext_aitk.core.errors import InvalidNameError

    group = getattr(namespace, "resource_group_name", None)
    if group is None or isinstance(group, DefaultStr):
        return
    try:
        names.check_resource_group(group, "-g")
    except InvalidNameError as e:
        raise to_az_error(e) from None


def validate_image_registry(namespace):
    """--image-registry against ACR's name rules, before anything is read or created."""
    from azext_aitk._exception_handler import to_az_error
    from azext_aitk.core.errors import InvalidNameError
    from azext_aitk.core.provision import image_registry

    name = getattr(namespace, "image_registry", None)
    if name is None:
        return
    try:
        image_registry.check_name(name)
    except InvalidNameError as e:
        raise to_az_error(e) from None


def validate_provision(namespace):
    validate_resource_group_name(namespace)
    validate_replicas(namespace)
    validate_image_registry(namespace)
    if getattr(namespace, "what_if", False) and getattr(namespace, "no_wait", False):
        raise MutuallyExclusiveArgumentError(
            "--what-if and --no-wait cannot be used together", "--what-if deploys nothing; drop --no-wait."
        )


def validate_adapters(namespace):
    from azext_aitk._exception_handler import to_az_error
    from azext_aitk.core.deploy.adapter_specs import AdapterSpecError, parse

    names = set()
    for spec in getattr(namespace, "adapters", None) or []:
        try:
            name, _ = parse(spec)
        except AdapterSpecError as e:
            raise to_az_error(e) from None
        if name in names:
            raise InvalidArgumentValueError(f"--adapter name {name!r} is given twice")
        names.add(name)


def _checked(check, *args, **kwargs):
    """Run a core check (core/options.py); its AitkError becomes the az error it names."""
    from azext_aitk._exception_handler import to_az_error
    from azext_aitk.core.errors import AitkError

    try:
        check(*args, **kwargs)
    except AitkError as e:
        raise to_az_error(e) from None


def validate_deploy(namespace):
    from azext_aitk.core import options

    validate_adapters(namespace)
    _checked(options.check_seconds, "--timeout", getattr(namespace, "timeout", None))


def validate_key_rotate(namespace):
    """--timeout before the key changes: not a rotation that then fails to wait."""
    from azext_aitk.core import options

    _checked(options.check_seconds, "--timeout", getattr(namespace, "timeout", None))


def validate_wait(namespace):
    from azext_aitk.core import options

    _checked(
        options.check_wait,
        getattr(namespace, "ready", False),
        getattr(namespace, "deleted", False),
        getattr(namespace, "timeout", None),
        getattr(namespace, "interval", None),
    )
