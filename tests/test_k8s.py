"""The Kubernetes manifests (ops/k8s/, issue 13 point 4) are valid for a pinned Kubernetes and say what
the Dockerfile, compose and settings.py say.

No cluster is needed: every manifest goes through kubernetes-validate's bundled JSON schemas in strict
mode (an unknown or misspelt field fails), then the checks a schema cannot make: probes on the
container's port, the Dockerfile's image, command, user and port, env names settings.py reads, a
Secret template without secrets, selectors that match the pods, and a grace period that covers the
preStop pause plus uvicorn's graceful shutdown. The NATS values file is for NATS' Helm chart, whose
values schema is not available offline: it is checked as YAML with JetStream on file storage.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import msgspec
import pytest
import yaml

from tableorder.settings import Settings, SettingsError
from tests.test_deploy_files import exec_form, final_stage, template_values

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "ops" / "k8s"
# The oldest Kubernetes the manifests support (lifecycle.preStop.sleep is on by default from 1.30).
KUBERNETES_VERSION = "1.31"
NOT_MANIFESTS = {"kustomization.yaml", "nats-values.yaml"}
SECRET_NAMES = {"DATABASE_URL", "DATABASE_REPLICA_URL", "JWT_SECRET_KEY"}
PLACEHOLDER = "CHANGE_ME"


def manifest_files() -> list[Path]:
    return sorted(path for path in K8S.glob("*.yaml") if path.name not in NOT_MANIFESTS)


def load(path: Path) -> list[dict[str, Any]]:
    documents = [document for document in yaml.safe_load_all(path.read_text()) if document is not None]
    assert documents, f"{path.name} holds no manifest"
    assert all(isinstance(document, dict) for document in documents), path.name
    return documents


def all_resources() -> list[dict[str, Any]]:
    return [resource for path in manifest_files() for resource in load(path)]


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [r for r in all_resources() if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def api_container() -> dict[str, Any]:
    containers = one("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "the API pod runs one container"
    container: dict[str, Any] = containers[0]
    return container


def dockerfile_cmd() -> list[str]:
    return exec_form(next(i.arguments for i in reversed(final_stage()) if i.keyword == "CMD"))


def env_sources(pod_spec: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(ConfigMap names, Secret names) the pod's containers take their environment from."""
    config_maps, secrets = set(), set()
    for container in pod_spec["containers"]:
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                config_maps.add(source["configMapRef"]["name"])
            if "secretRef" in source:
                secrets.add(source["secretRef"]["name"])
    return config_maps, secrets


def secret_template() -> dict[str, str]:
    secret = one("Secret")
    assert "data" not in secret, "the template holds base64 data: use stringData with placeholders"
    values: dict[str, str] = secret["stringData"]
    return values


# --- the schema ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", manifest_files(), ids=lambda path: path.name)
def test_manifest_is_valid_for_the_pinned_kubernetes_in_strict_mode(path: Path) -> None:
    errors = []
    for resource in load(path):
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(part) for part in exc.absolute_path)
            errors.append(f"{resource['kind']} {resource['metadata']['name']}: {where}: {exc.message}")
    assert not errors, f"{path.name} is not valid for Kubernetes {KUBERNETES_VERSION}:\n" + "\n".join(errors)


def test_the_validator_rejects_an_unknown_field() -> None:
    """Strict mode is what catches a misspelt field (here `readinesProbe`), which Kubernetes would drop."""
    deployment = one("Deployment")
    container = api_container()
    broken_container = {**container, "readinesProbe": {"httpGet": {"path": "/health/ready", "port": "http"}}}
    broken = {**deployment, "spec": {**deployment["spec"], "template": {
        **deployment["spec"]["template"],
        "spec": {**deployment["spec"]["template"]["spec"], "containers": [broken_container]}}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_kind_the_issue_asks_for_is_there_and_kustomize_lists_every_manifest() -> None:
    kinds = {resource["kind"] for resource in all_resources()}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap", "Secret",
            "Ingress", "Job"} <= kinds
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    listed = set(kustomization["resources"])
    for name in listed:
        assert (K8S / name).exists(), f"kustomization.yaml lists {name}, which does not exist"
    # The Secret template (placeholders) and the one-off Job are applied by hand, in order.
    expected = {path.name for path in manifest_files()} - {"secret.template.yaml", "migrate-job.yaml"}
    assert listed == expected
    assert [image["name"] for image in kustomization["images"]] == [api_container()["image"].split(":")[0]]
    namespaces = {r["metadata"].get("namespace") for r in all_resources() if r["kind"] != "Namespace"}
    assert namespaces == {kustomization["namespace"]} == {one("Namespace")["metadata"]["name"]}


# --- the Deployment against the Dockerfile and compose ---------------------------------------------


def test_the_api_runs_the_dockerfile_image_and_command() -> None:
    container = api_container()
    compose = yaml.safe_load((ROOT / "compose.prod.yaml").read_text())
    assert container["image"] == compose["services"]["backend"]["image"]
    assert container.get("command", []) + container.get("args", []) == dockerfile_cmd()
    cmd = dockerfile_cmd()
    port = int(cmd[cmd.index("--port") + 1])
    assert [p["containerPort"] for p in container["ports"]] == [port]
    assert any(i.keyword == "EXPOSE" and i.arguments.split() == [str(port)] for i in final_stage())


def container_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    return int(next(p["containerPort"] for p in container["ports"] if p.get("name") == port))


def test_probes_point_at_health_and_readiness_on_the_container_port() -> None:
    container = api_container()
    port = container["ports"][0]["containerPort"]
    expected = {"startupProbe": "/health", "livenessProbe": "/health", "readinessProbe": "/health/ready"}
    for probe, path in expected.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert container_port(container, get["port"]) == port, f"{probe} probes another port"
        assert get.get("scheme", "HTTP") == "HTTP"
    # The startup probe covers a slow start; liveness never restarts a pod that is merely not ready.
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 30
    assert container["livenessProbe"]["failureThreshold"] >= 3


def test_the_budget_is_the_one_compose_gives_a_backend() -> None:
    compose = yaml.safe_load((ROOT / "compose.prod.yaml").read_text())
    budget = compose["services"]["backend"]["deploy"]["resources"]
    resources = api_container()["resources"]
    assert budget["limits"] == {"cpus": "1", "memory": "512M"}
    assert resources["limits"] == {"cpu": "1", "memory": "512Mi"}
    assert budget["reservations"] == {"cpus": "0.5", "memory": "256M"}
    assert resources["requests"] == {"cpu": "500m", "memory": "256Mi"}


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_pods_run_unprivileged_on_a_read_only_root(kind: str) -> None:
    pod = one(kind)["spec"]["template"]["spec"]
    user = next(i.arguments for i in final_stage() if i.keyword == "USER").split(":")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == user[0], "not the Dockerfile's USER"
    assert str(pod["securityContext"]["runAsGroup"]) == user[1]
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod.get("automountServiceAccountToken") is False
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context.get("privileged", False) is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"] and not context["capabilities"].get("add")
        # What must stay writable on a read-only root: /tmp only.
        mounts = {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}
        assert set(mounts) == {"/tmp"}
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]]


def test_streams_end_gracefully_within_the_grace_period() -> None:
    """preStop pauses while the endpoint leaves the Service, then SIGTERM ends the streams
    (events/shutdown.py) and uvicorn drains for --timeout-graceful-shutdown: all before SIGKILL."""
    pod = one("Deployment")["spec"]["template"]["spec"]
    pre_stop = api_container()["lifecycle"]["preStop"]
    if "sleep" in pre_stop:
        pause = int(pre_stop["sleep"]["seconds"])
    else:
        command = pre_stop["exec"]["command"]
        assert command[0] in {"sleep", "/bin/sleep"}, command
        pause = int(command[1])
    assert 3 <= pause <= 15, "long enough for endpoints to update, short enough not to stall rollouts"
    cmd = dockerfile_cmd()
    graceful = int(cmd[cmd.index("--timeout-graceful-shutdown") + 1])
    assert pod["terminationGracePeriodSeconds"] >= pause + graceful + 5


def test_pods_spread_across_nodes_and_rollouts_keep_capacity() -> None:
    deployment = one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    by_node = [c for c in spread if c["topologyKey"] == "kubernetes.io/hostname"]
    assert by_node and by_node[0]["maxSkew"] == 1
    assert by_node[0]["labelSelector"]["matchLabels"].items() <= labels.items()
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"


def test_service_hpa_pdb_and_network_policy_select_the_api_pods() -> None:
    deployment = one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()

    service = one("Service")
    assert service["spec"]["selector"].items() <= labels.items()
    container = api_container()
    target = service["spec"]["ports"][0]["targetPort"]
    assert container_port(container, target) == container["ports"][0]["containerPort"]

    hpa = one("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": deployment["metadata"]["name"]}
    compose = yaml.safe_load((ROOT / "compose.prod.yaml").read_text())
    assert hpa["spec"]["minReplicas"] >= compose["services"]["backend"]["deploy"]["replicas"]
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"] == ["cpu"]

    pdb = one("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # A budget that allows no eviction at the minimum replica count would block every node drain.
    if "minAvailable" in pdb["spec"]:
        assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]
    else:
        assert pdb["spec"]["maxUnavailable"] >= 1

    policy = one("NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()


# --- configuration ---------------------------------------------------------------------------------


def setting_names() -> set[str]:
    return {field.name.upper() for field in msgspec.structs.fields(Settings)}


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_pods_take_their_environment_from_the_config_map_and_secret(kind: str) -> None:
    config_maps, secrets = env_sources(one(kind)["spec"]["template"]["spec"])
    assert config_maps == {one("ConfigMap")["metadata"]["name"]}
    assert secrets == {one("Secret")["metadata"]["name"]}


def test_every_configured_name_is_a_setting_and_secrets_stay_out_of_the_config_map() -> None:
    config = one("ConfigMap")["data"]
    secrets = secret_template()
    unknown = (set(config) | set(secrets)) - setting_names()
    assert not unknown, f"settings.py reads no {sorted(unknown)} (a typo, or a setting not written yet?)"
    assert not set(config) & SECRET_NAMES, "secrets belong in the Secret"
    assert set(secrets) == SECRET_NAMES
    # Everything the compose env template configures, Kubernetes configures too.
    missing = (set(template_values()) & setting_names()) - set(config) - set(secrets)
    assert not missing, f"the ConfigMap/Secret lack {sorted(missing)}, which .env.production.template sets"
    if "EVENT_BUS" in setting_names():  # issue 13 point 1: then the bus must be chosen explicitly
        assert "EVENT_BUS" in config


def test_the_secret_template_holds_no_secret() -> None:
    for name, value in secret_template().items():
        if not value:
            continue
        assert PLACEHOLDER in value, f"{name} is neither empty nor a {PLACEHOLDER} placeholder"
        password = re.match(r"^[a-z+]+://[^:/@]*:([^@]*)@", value)
        assert password is None or password.group(1) == PLACEHOLDER, f"{name} carries a password"
    assert secret_template()["JWT_SECRET_KEY"] == "", "the template must not ship a usable signing key"


def test_the_config_starts_the_app_once_the_secret_is_filled_in() -> None:
    env = {**one("ConfigMap")["data"], **secret_template()}
    with pytest.raises(SettingsError, match="JWT_SECRET_KEY"):
        Settings.from_env(env)
    settings = Settings.from_env({**env, "JWT_SECRET_KEY": "s" * 48})
    assert settings.environment == "production" and settings.debug is False
    cmd = dockerfile_cmd()
    assert settings.workers == int(cmd[cmd.index("--workers") + 1])
    assert settings.public_base_url.startswith("https://")


def test_the_migration_job_runs_what_deploy_sh_runs_with_the_api_image() -> None:
    deploy = (ROOT / "ops" / "deploy.sh").read_text()
    command = re.search(r"^MIGRATE_COMMAND=\((.*)\)$", deploy, re.MULTILINE)
    assert command, "ops/deploy.sh no longer defines MIGRATE_COMMAND"
    job = one("Job")["spec"]["template"]["spec"]
    assert job["restartPolicy"] == "Never"
    [container] = job["containers"]
    assert container["command"] == command.group(1).split()
    assert container["image"] == api_container()["image"]


# --- the Ingress against nginx/nginx.conf -------------------------------------------------------------


def ingress_paths() -> dict[str, tuple[str, dict[str, str]]]:
    """path -> (pathType, the annotations of its Ingress), every path routed to the API Service."""
    service = one("Service")
    paths: dict[str, tuple[str, dict[str, str]]] = {}
    for ingress in (r for r in all_resources() if r["kind"] == "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for entry in rule["http"]["paths"]:
                backend = entry["backend"]["service"]
                assert backend["name"] == service["metadata"]["name"]
                assert backend["port"] in ({"name": service["spec"]["ports"][0]["name"]},
                                           {"number": service["spec"]["ports"][0]["port"]})
                assert entry["path"] not in paths, f"{entry['path']} is routed twice"
                paths[entry["path"]] = (entry["pathType"], ingress["metadata"].get("annotations", {}))
    return paths


def test_ingress_routes_what_nginx_routes_and_streams_unbuffered_for_a_day() -> None:
    paths = ingress_paths()
    for stream in ("/api/v1/admin/orders/stream", "/api/v1/orders/stream"):
        path_type, annotations = paths[stream]
        assert path_type == "Exact"
        assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
        assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 86400
        assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 86400
    path_type, annotations = paths["/api"]
    assert path_type == "Prefix"
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "60"
    assert annotations.get("nginx.ingress.kubernetes.io/proxy-buffering") != "off"
    for exact in ("/health", "/health/ready", "/", "/admin", "/kitchen"):
        assert paths[exact][0] == "Exact", exact
    for prefix in ("/schema", "/static"):
        assert paths[prefix][0] == "Prefix", prefix
    for _, annotations in paths.values():
        assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "64k"  # nginx.conf's client_max_body_size


# --- NATS ----------------------------------------------------------------------------------------------


def test_nats_values_run_a_three_server_jetstream_cluster_on_files() -> None:
    """Values for the official chart (nats-io/k8s); its values schema is not bundled, so only the
    shape that matters is checked here."""
    values = yaml.safe_load((K8S / "nats-values.yaml").read_text())
    config = values["config"]
    assert config["jetstream"]["enabled"] is True
    assert config["jetstream"]["fileStore"]["enabled"] is True
    assert config["jetstream"]["fileStore"]["pvc"]["enabled"] is True
    assert config["cluster"]["enabled"] is True
    assert config["cluster"]["replicas"] == 3
