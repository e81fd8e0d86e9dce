"""The command functions: thin, each hands over to a plain module (imported lazily)."""
# pylint: disable=too-many-arguments,unused-argument


def inference_init(cmd, workspace=None, force=False):
    from ._errors import domain_errors
    from .init_files import init_workspace
    from .workspace import Workspace
    from knack.log import get_logger
    logger = get_logger(__name__)
    with domain_errors():
        results = init_workspace(Workspace(workspace or "."), force=force)
    for r in results:
        if r["action"] == "kept":
            logger.warning("Kept %s (it differs from the shipped one; --force resets it with a backup)",
                           r["file"])
    return results


def inference_provision(cmd, workspace=None, resource_group_name=None, location=None,
                        parameters=None, gpu_profile=None, min_replicas=None, max_replicas=None,
                        image=None, what_if=False, no_wait=False):
    from ._errors import domain_errors
    from ._provision import run
    with domain_errors():
        return run(cmd, workspace=workspace, resource_group_name=resource_group_name,
                   location=location, parameters=parameters, gpu_profile=gpu_profile,
                   min_replicas=min_replicas, max_replicas=max_replicas, image=image,
                   what_if=what_if, no_wait=no_wait)


def inference_deploy(cmd, workspace=None, adapters=None, delete=False, no_wait=False, timeout=None):
    from ._deploy import run
    from ._errors import domain_errors
    with domain_errors():
        return run(cmd, workspace=workspace, adapters=adapters, delete=delete, no_wait=no_wait,
                   timeout=timeout)


def inference_endpoint(cmd, workspace=None, show_key=False):
    from ._endpoint import run
    from ._errors import domain_errors
    with domain_errors():
        return run(cmd, workspace=workspace, show_key=show_key)


def inference_chat(cmd, workspace=None, model=None, system=None, temperature=None, max_tokens=None,
                   message=None):
    from ._chat import run
    from ._errors import domain_errors
    with domain_errors():
        return run(cmd, workspace=workspace, model=model, system=system, temperature=temperature,
                   max_tokens=max_tokens, message=message)


def inference_status(cmd, workspace=None):
    from ._errors import domain_errors
    from ._status import run
    with domain_errors():
        return run(cmd, workspace=workspace)


def inference_delete(cmd, workspace=None, yes=False, no_wait=False):
    from ._delete import run
    from ._errors import domain_errors
    with domain_errors():
        return run(cmd, workspace=workspace, yes=yes, no_wait=no_wait)


def inference_logs(cmd, workspace=None, follow=False, tail=None):
    from ._errors import domain_errors
    from ._logs import run
    with domain_errors():
        return run(cmd, workspace=workspace, follow=follow, tail=tail)
