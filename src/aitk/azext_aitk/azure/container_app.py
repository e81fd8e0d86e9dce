"""The container app: its resource (SDK model or ARM JSON), its API key secret, revisions,
replicas, restarts and the console log stream."""

from knack.log import get_logger

from ..core import api_key, gpu_profiles
from ..core import workspace as ws_mod
from ..core.errors import NotFoundError
from ..core.monitor import console_log
from . import api_versions, arm, lro, resource_ids, secret_logging
from .not_found import is_not_found
from .retry import retry_lost

SECRETS_UPDATE_WAIT = 600  # seconds a secrets update may take (az waits up to 1200)

logger = get_logger(__name__)


class ContainerApp:  # pylint: disable=too-many-public-methods  # one client per resource type (docs/contracts.md)
    """One container app, named by subscription, resource group and name: its ids and its SDK
    client use that one subscription (operations/_config.py resolves it once per command)."""

    def __init__(self, cli_ctx, subscription_id, resource_group, name):
        self.cli_ctx = cli_ctx
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.name = name
        self._client = None

    @classmethod
    def from_config(cls, cli_ctx, cfg):
        """The app infra/inference.config.json names (an InferenceConfig)."""
        return cls(cli_ctx, cfg.subscription_id, cfg.resource_group, cfg.app_name)

    @property
    def id(self):
        return resource_ids.container_app(self.subscription_id, self.resource_group, self.name)

    @property
    def client(self):
        if self._client is None:
            from .._client_factory import cf_container_apps

            self._client = cf_container_apps(self.cli_ctx, self.subscription_id)
        return self._client

    def not_found_error(self):
        return NotFoundError(
            f"container app '{self.name}' was not found in resource group '{self.resource_group}' "
            f"(named by {ws_mod.INFERENCE_CONFIG_FILE})",
            "Run `az aitk inference provision` to create it, or fix the config file.",
        )

    # -- the resource -----------------------------------------------------------------------

    def find(self):
        """The SDK model, or None when the app does not exist."""
        try:
            return self.client.container_apps.get(self.resource_group, self.name)
        except Exception as ex:  # pylint: disable=broad-except
            if is_not_found(ex):
                return None
            raise

    def get(self):
        """The SDK model; a missing app is one clear error."""
        app = self.find()
        if app is None:
            raise self.not_found_error()
        return app

    def find_json(self):
        """The ARM JSON (api_versions.CONTAINER_APPS), or None when the app does not exist."""
        try:
            return arm.get(self.cli_ctx, self.id)
        except Exception as ex:  # pylint: disable=broad-except
            if is_not_found(ex):
                return None
            raise

    def get_json(self):
        app = self.find_json()
        if app is None:
            raise self.not_found_error()
        return app

    def secrets(self):
        """The app's secrets with their values (listSecrets; never logged)."""
        found = retry_lost(
            self.client.container_apps.list_secrets, self.resource_group, self.name, **secret_logging.NO_LOGGING
        )
        return list(getattr(found, "value", None) or [])

    def api_key(self):
        """The endpoint's (primary) API key, from the app's secrets (None when it has none)."""
        return api_key.from_secrets(self.secrets())

    def api_keys(self):
        """{"primary": key, "secondary": key} from the app's secrets (None for one it lacks)."""
        return api_key.keys_from_secrets(self.secrets())

    def update_secrets(self, secret_list, tags=None):
        """Replace the app's secrets ([{name, value}], every one: ACA replaces the list) and, when
        given, its tags (every one), in one request. The request carries the values, so it runs
        with them masked in az's log. A running revision sees the new values only after a restart
        or in a new revision (https://learn.microsoft.com/azure/container-apps/manage-secrets)."""
        body = {"properties": {"configuration": {"secrets": secret_list}}}
        if tags is not None:
            body["tags"] = tags
        with secret_logging.redacted(*(s["value"] for s in secret_list)):
            # follows the operation, not the app's provisioningState (azure/lro.py)
            lro.update(
                self.cli_ctx,
                self.id,
                body,
                api_versions.CONTAINER_APPS,
                what=f"replacing the secrets of container app '{self.name}'",
                timeout=SECRETS_UPDATE_WAIT,
            )

    def update_tags(self, tags):
        """Replace the app's tags (every one); tags make no new revision. Follows the operation
        (azure/lro.py) like every other update."""
        lro.update(
            self.cli_ctx,
            self.id,
            {"tags": tags},
            api_versions.CONTAINER_APPS,
            what=f"updating the tags of container app '{self.name}'",
            timeout=SECRETS_UPDATE_WAIT,
        )

    def set_scale_concurrency(self, value, app_json=None):
        """Set the HTTP scale rule's concurrentRequests (core/provision/scale_rule.with_rule): a
        revision-scope change, so the app gets a new revision (scale-app.md: "Adding or editing
        scaling rules creates a new revision"). PATCHes the whole template, as az containerapp
        update does, and follows the operation (azure/lro.py)."""
        from ..core.provision import scale_rule

        app_json = app_json or self.get_json()
        template = scale_rule.with_rule((app_json.get("properties") or {}).get("template") or {}, value)
        lro.update(
            self.cli_ctx,
            self.id,
            {"properties": {"template": template}},
            api_versions.CONTAINER_APPS,
            what=f"setting the HTTP scale rule of container app '{self.name}'",
            timeout=SECRETS_UPDATE_WAIT,
        )

    def workload_profile(self, app):
        """The GPU profile the app (SDK model) runs on, read through the generic resource API (the
        app's workloadProfileName and the environment's profiles are newer than the SDK's models)."""
        from .._client_factory import cf_resources

        try:
            resources = cf_resources(self.cli_ctx, self.subscription_id)
            props = resources.resources.get_by_id(app.id, api_versions.CONTAINER_APPS).properties or {}
            env_id = props.get("managedEnvironmentId") or props.get("environmentId")
            wp_name = props.get("workloadProfileName")
            if not env_id or not wp_name:
                return None
            env = resources.resources.get_by_id(env_id, api_versions.CONTAINER_APPS).properties or {}
            for wp in env.get("workloadProfiles") or []:
                if wp.get("name") == wp_name:
                    return gpu_profiles.by_type(wp.get("workloadProfileType"))
        except Exception:  # pylint: disable=broad-except
            logger.debug("could not read the app's workload profile", exc_info=True)
        return None

    # -- revisions and replicas -------------------------------------------------------------

    def revisions(self):
        return arm.list_all(self.cli_ctx, f"{self.id}/revisions")

    def replicas(self, revision):
        return arm.list_all(self.cli_ctx, f"{self.id}/revisions/{revision}/replicas")

    def restart_revision(self, revision):
        retry_lost(self.client.container_apps_revisions.restart_revision, self.resource_group, self.name, revision)

    def serving_revisions(self, app_json=None):
        """The active revisions that take traffic (core/deploy/deploy_rollout.restart_targets)."""
        from ..core.deploy import deploy_rollout

        app_json = app_json if app_json is not None else self.get_json()
        return deploy_rollout.restart_targets(app_json.get("properties") or {}, self.revisions())

    def restart_serving(self, app_json=None):
        """Restart what serves: the active revision(s) taking traffic, never an inactive one (ACA
        refuses: "only the active revision can be restarted"). Returns their names ([] when none)."""
        targets = self.serving_revisions(app_json)
        for name in targets:
            logger.warning("Restarting revision %s", name)
            self.restart_revision(name)
        return targets

    def has_running_replica(self, revisions):
        """True when a replica of one of `revisions` (names) runs now."""
        from ..core.monitor.status_summary import running_replicas

        return any(running_replicas(self.replicas(name)) for name in revisions)

    # -- the console log ----------------------------------------------------------------------

    def open_log_stream(self, app_json, follow, tail, revision=None):
        """(requests response streaming text lines, description), or (None, why) when no replica
        runs. app_json: the app's ARM JSON (get_json)."""
        import requests

        props = app_json.get("properties") or {}
        revision = revision or props.get("latestRevisionName")
        if not revision:
            return None, "the app has no revision yet"
        picked = console_log.pick_replica(self.replicas(revision))
        if picked is None or not picked[1]:
            return None, (
                f"revision {revision} has no replica running (scaled to zero or failed to "
                "start); a request to the endpoint starts one"
            )
        replica, container = picked
        token = arm.log_stream_token(self.cli_ctx, self.id)
        url = console_log.logstream_url(
            props.get("eventStreamEndpoint"),
            self.subscription_id,
            self.resource_group,
            self.name,
            revision=revision,
            replica=replica,
            container=container,
        )
        logger.info("log stream: %s", url)
        try:
            resp = requests.get(
                url,
                params=console_log.query(follow, tail),
                stream=True,
                headers={"Authorization": f"Bearer {token}"},
                timeout=(15.0, None if follow else 60.0),
            )
        except requests.RequestException as e:
            raise console_log.LogStreamError(f"the log stream did not answer ({type(e).__name__})") from None
        if resp.status_code != 200:
            resp.close()
            raise console_log.LogStreamError(
                f"the log stream answered {resp.status_code}",
                "Try again; `az containerapp logs show` reads the same stream.",
            )
        return resp, f"{revision}/{replica}/{container}"

    def log_tail(self, app_json, tail):
        """The last `tail` console lines of the latest revision's replica ([] when none runs)."""
        resp, _ = self.open_log_stream(app_json, False, tail)
        if resp is None:
            return []
        with resp:
            return list(console_log.text_lines(resp.iter_lines()))


def list_in_subscription(cli_ctx, subscription_id):
    """The ARM JSON of every container app in the subscription."""
    return arm.list_all(
        cli_ctx, resource_ids.provider_path(subscription_id, resource_ids.APP_NAMESPACE, resource_ids.CONTAINER_APPS)
    )


def max_replicas(app):
    """The scale limit of an app (SDK model); 1 when unset."""
    scale = getattr(getattr(app, "template", None), "scale", None)
    return getattr(scale, "max_replicas", None) or 1


def image_registry(app):
    """The registry an app (SDK model) pulls its image from with a managed identity, or None
    (core/image_registry.registry_in_use decides)."""
    from ..core.provision.image_registry import registry_in_use

    containers = getattr(getattr(app, "template", None), "containers", None) or []
    registries = getattr(getattr(app, "configuration", None), "registries", None) or []
    image = getattr(containers[0], "image", None) if containers else None
    return registry_in_use(image, [(getattr(r, "server", None), getattr(r, "identity", None)) for r in registries])


def scale_concurrency(app):
    """The first HTTP scale rule's concurrentRequests of an app (SDK model), or None."""
    from ..core.provision import scale_rule

    template = getattr(app, "template", None)
    return scale_rule.current_rule(template.serialize() if template is not None else {})


def fqdn(app):
    """The ingress FQDN of an app: SDK model or ARM JSON (None when ingress is off)."""
    if isinstance(app, dict):
        config = (app.get("properties") or {}).get("configuration") or {}
        return (config.get("ingress") or {}).get("fqdn")
    return getattr(getattr(getattr(app, "configuration", None), "ingress", None), "fqdn", None)


def state(app):
    """The running status of an app (SDK model), else its provisioning state."""
    return getattr(app, "running_status", None) or getattr(app, "provisioning_state", None) or "Unknown"
