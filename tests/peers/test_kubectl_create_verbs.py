"""kubectl's imperative create verbs against a demo cluster, as a platform engineer rehearses an access change.

kubectl 1.32 and later post these commands' bodies as ``application/vnd.kubernetes.protobuf`` (and never retry them
as JSON), so each test is a protobuf create the sandbox must decode; the object is then read back with
`kubectl get -o json` and held against what the command set. kubectl is the one the machine's dispatcher picks for
payments-prod (1.32), configured by `aws eks update-kubeconfig --role-arn` for the platform admin role. The verbs
run against a sandbox of their own: the objects they create would change what the other peer tests read.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from eks_sandbox.kube.protobuf import MAGIC, decode
from tests.helpers import serving_sandbox
from tests.peers.kubectl_access import KubectlCluster, kubectl_cluster

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.peers,
    pytest.mark.wall_clock,
    pytest.mark.xdist_group("kubectl-create"),  # one sandbox for the module, on one worker
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed on this machine"),
]

CLUSTER, REGION, NAMESPACE = "payments-prod", "us-east-1", "rehearsal"


@pytest.fixture(scope="module")
def payments_prod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubectlCluster]:
    """payments-prod of a sandbox of its own, with the namespace the tests create their objects in."""
    workdir = tmp_path_factory.mktemp("kubectl-create")
    with serving_sandbox(workdir / "serve.log") as url:
        cluster = kubectl_cluster(url, CLUSTER, REGION, workdir)
        created = cluster.kubectl("create", "namespace", NAMESPACE)
        assert created.returncode == 0, created.stderr
        yield cluster


def create(cluster: KubectlCluster, *arguments: str) -> None:
    """Run a kubectl command that creates or changes one object, failing the test with kubectl's error."""
    result = cluster.kubectl(*arguments)
    assert result.returncode == 0, f"kubectl {' '.join(arguments)} exited {result.returncode}: {result.stderr.strip()}"


def read(cluster: KubectlCluster, kind: str, name: str, namespaced: bool = True) -> dict[str, Any]:
    """The object as `kubectl get -o json` prints it."""
    where = ["-n", NAMESPACE] if namespaced else []
    result = cluster.kubectl("get", kind, name, *where, "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def only_container(pod_spec: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod_spec["containers"]
    return container


def test_kubectl_create_namespace_stores_the_namespace(payments_prod):
    namespace = read(payments_prod, "namespace", NAMESPACE, namespaced=False)
    assert namespace["metadata"]["name"] == NAMESPACE
    assert namespace["status"]["phase"] == "Active"


def test_kubectl_create_configmap_from_literals_keeps_every_key_empty_values_too(payments_prod):
    create(
        payments_prod,
        "create",
        "configmap",
        "settings",
        "-n",
        NAMESPACE,
        "--from-literal=mode=blue",
        "--from-literal=empty=",
    )
    assert read(payments_prod, "configmap", "settings")["data"] == {"mode": "blue", "empty": ""}


def test_kubectl_create_secret_generic_stores_the_values_base64(payments_prod):
    create(payments_prod, "create", "secret", "generic", "db", "-n", NAMESPACE, "--from-literal=password=s3cret")
    secret = read(payments_prod, "secret", "db")
    assert secret["type"] == "Opaque"
    assert base64.b64decode(secret["data"]["password"]) == b"s3cret"


def test_kubectl_create_role_and_rolebinding_grant_a_new_service_account(payments_prod):
    create(payments_prod, "create", "serviceaccount", "deployer", "-n", NAMESPACE)
    create(payments_prod, "create", "role", "reader", "-n", NAMESPACE, "--verb=get,list", "--resource=pods,configmaps")
    create(
        payments_prod,
        *("create", "rolebinding", "deployer-reads", "-n", NAMESPACE),
        *("--role=reader", f"--serviceaccount={NAMESPACE}:deployer"),
    )
    assert read(payments_prod, "serviceaccount", "deployer")["metadata"]["namespace"] == NAMESPACE
    assert read(payments_prod, "role", "reader")["rules"] == [
        {"apiGroups": [""], "resources": ["pods", "configmaps"], "verbs": ["get", "list"]}
    ]
    binding = read(payments_prod, "rolebinding", "deployer-reads")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "deployer", "namespace": NAMESPACE}]
    # The rehearsal's point: what the account may do, asked as the account (impersonation), not as the admin.
    as_deployer = ("-n", NAMESPACE, f"--as=system:serviceaccount:{NAMESPACE}:deployer")
    assert payments_prod.kubectl("auth", "can-i", "get", "pods", *as_deployer).stdout.strip() == "yes"
    assert payments_prod.kubectl("auth", "can-i", "delete", "pods", *as_deployer).stdout.strip() == "no"
    assert payments_prod.kubectl("auth", "can-i", "delete", "pods", "-n", NAMESPACE).stdout.strip() == "yes"


def test_kubectl_create_clusterrole_and_clusterrolebinding_grant_a_group(payments_prod):
    create(payments_prod, "create", "clusterrole", "pod-reader", "--verb=get", "--resource=pods")
    create(payments_prod, "create", "clusterrolebinding", "pod-readers", "--clusterrole=pod-reader", "--group=readers")
    role = read(payments_prod, "clusterrole", "pod-reader", namespaced=False)
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
    binding = read(payments_prod, "clusterrolebinding", "pod-readers", namespaced=False)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pod-reader"}
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "readers"}]


def test_kubectl_create_deployment_then_autoscale_it(payments_prod):
    create(
        payments_prod,
        *("create", "deployment", "web", "-n", NAMESPACE, "--image=nginx:1.27", "--replicas=2", "--port=8080"),
    )
    deployment = read(payments_prod, "deployment", "web")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    container = only_container(deployment["spec"]["template"]["spec"])
    assert (container["name"], container["image"]) == ("nginx", "nginx:1.27")
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]

    create(payments_prod, "autoscale", "deployment", "web", "-n", NAMESPACE, "--min=2", "--max=5", "--cpu-percent=70")
    autoscaler = read(payments_prod, "hpa", "web")
    assert autoscaler["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert (autoscaler["spec"]["minReplicas"], autoscaler["spec"]["maxReplicas"]) == (2, 5)


@pytest.mark.xfail(
    strict=True,
    reason="gap: an HPA is stored as posted; kubectl 1.32 posts autoscaling/v1 (targetCPUUtilizationPercentage) and "
    "the sandbox does not convert it to the autoscaling/v2 metrics it is read back in",
)
def test_kubectl_autoscale_reads_back_as_an_autoscaling_v2_cpu_metric(payments_prod):
    create(payments_prod, "create", "deployment", "api", "-n", NAMESPACE, "--image=nginx:1.27")
    create(payments_prod, "autoscale", "deployment", "api", "-n", NAMESPACE, "--max=3", "--cpu-percent=80")
    assert read(payments_prod, "hpa", "api")["spec"]["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}
    ]


def test_kubectl_create_deployment_with_zero_replicas_keeps_zero(payments_prod):
    create(payments_prod, "create", "deployment", "idle", "-n", NAMESPACE, "--image=nginx:1.27", "--replicas=0")
    assert read(payments_prod, "deployment", "idle")["spec"]["replicas"] == 0


def test_kubectl_create_service_clusterip_maps_the_port_to_the_target_port(payments_prod):
    create(payments_prod, "create", "service", "clusterip", "web", "-n", NAMESPACE, "--tcp=80:8080")
    spec = read(payments_prod, "service", "web")["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["selector"] == {"app": "web"}
    assert spec["ports"] == [{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}]


def test_kubectl_create_job_runs_the_command_given(payments_prod):
    create(payments_prod, "create", "job", "once", "-n", NAMESPACE, "--image=busybox:1.36", "--", "echo", "hi")
    pod_spec = read(payments_prod, "job", "once")["spec"]["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Never"
    assert only_container(pod_spec)["command"] == ["echo", "hi"]


def test_kubectl_create_cronjob_keeps_its_schedule_and_job_template(payments_prod):
    create(
        payments_prod,
        *("create", "cronjob", "nightly", "-n", NAMESPACE, "--image=busybox:1.36", "--schedule=0 3 * * *"),
        *("--", "echo", "hi"),
    )
    spec = read(payments_prod, "cronjob", "nightly")["spec"]
    assert spec["schedule"] == "0 3 * * *"
    pod_spec = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert (only_container(pod_spec)["image"], only_container(pod_spec)["command"]) == ("busybox:1.36", ["echo", "hi"])


def test_kubectl_create_pdb_keeps_min_available_and_selector(payments_prod):
    create(payments_prod, "create", "pdb", "web", "-n", NAMESPACE, "--selector=app=web", "--min-available=1")
    spec = read(payments_prod, "pdb", "web")["spec"]
    assert spec["minAvailable"] == 1
    assert spec["selector"] == {"matchLabels": {"app": "web"}}


def test_kubectl_create_priorityclass_keeps_value_and_description(payments_prod):
    create(payments_prod, "create", "priorityclass", "rehearsal-high", "--value=1000", "--description=rehearsal")
    priority_class = read(payments_prod, "priorityclass", "rehearsal-high", namespaced=False)
    assert (priority_class["value"], priority_class["description"]) == (1000, "rehearsal")


def test_kubectl_create_ingress_routes_the_host_to_the_service(payments_prod):
    create(payments_prod, "create", "ingress", "web", "-n", NAMESPACE, "--rule=web.example.com/*=web:80")
    (rule,) = read(payments_prod, "ingress", "web")["spec"]["rules"]
    assert rule["host"] == "web.example.com"
    assert rule["http"]["paths"] == [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}
    ]


def certificate_request(common_name: str) -> str:
    """A PEM certificate signing request, base64 as a CertificateSigningRequest's spec.request holds it."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return base64.b64encode(request.public_bytes(serialization.Encoding.PEM)).decode()


def test_kubectl_certificate_approve_marks_the_request_approved(payments_prod, tmp_path: Path):
    manifest = {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": "alice"},
        "spec": {
            "request": certificate_request("alice"),
            "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth"],
        },
    }
    (tmp_path / "csr.json").write_text(json.dumps(manifest))
    create(payments_prod, "create", "-f", str(tmp_path / "csr.json"))
    create(payments_prod, "certificate", "approve", "alice")
    approved = read(payments_prod, "csr", "alice", namespaced=False)
    conditions = approved["status"]["conditions"]
    assert [(c["type"], c["status"], c["reason"]) for c in conditions] == [("Approved", "True", "KubectlApprove")]
    # kubectl sends no lastTransitionTime: the API server sets it, on the sandbox's clock (which runs ahead of the
    # wall clock kubectl's lastUpdateTime is read from), not after the request was created.
    assert conditions[0]["lastTransitionTime"] >= approved["metadata"]["creationTimestamp"]


def posted_protobuf_bodies(verbose_log: str) -> list[bytes]:
    """The protobuf request bodies in kubectl's -v=9 log, where each is a hex dump between ``body=<`` and ``>``."""
    bodies, current = [], None
    for line in verbose_log.splitlines():
        if line.endswith('"Request Body" body=<'):
            current = bytearray()
        elif current is not None and line.strip() == ">":
            bodies.append(bytes(current))
            current = None
        elif current is not None:
            current.extend(bytes.fromhex(line.strip()[10:58].replace(" ", "")))  # offset, 16 bytes, |text|
    return [body for body in bodies if body.startswith(MAGIC)]


@pytest.mark.parametrize(
    "command",
    [
        ["create", "configmap", "wire", "--from-literal=mode=blue", "--from-literal=empty="],
        ["create", "secret", "generic", "wire", "--from-literal=password=s3cret"],
        ["create", "rolebinding", "wire", "--clusterrole=view", "--user=alice", "--serviceaccount=rehearsal:default"],
        ["create", "deployment", "wire", "--image=nginx:1.27", "--image=busybox:1.36", "--replicas=0", "--port=80"],
        ["create", "service", "nodeport", "wire", "--tcp=80:http"],
        ["create", "cronjob", "wire", "--image=busybox:1.36", "--schedule=0 3 * * *", "--", "echo", "hi"],
        ["create", "pdb", "wire", "--selector=app=web", "--max-unavailable=50%"],
        ["create", "ingress", "wire", "--rule=web.example.com/*=web:80", "--class=alb", "--annotation=team=payments"],
    ],
    ids=lambda command: " ".join(command[:3]),
)
def test_the_protobuf_body_kubectl_posts_decodes_to_the_json_kubectl_builds(payments_prod, command: list[str]):
    """Field for field, zero values included: the decoded body is what encoding/json writes for kubectl's object."""
    cut = command.index("--") if "--" in command else len(command)
    options, arguments = [*command[:cut], "-n", NAMESPACE], command[cut:]
    built = payments_prod.kubectl(*options, "--dry-run=client", "-o", "json", *arguments)
    assert built.returncode == 0, built.stderr
    posted = payments_prod.kubectl(*options, "-v=9", *arguments)
    assert posted.returncode == 0, posted.stderr[-2000:]
    (body,) = posted_protobuf_bodies(posted.stderr)
    assert decode(body) == json.loads(built.stdout)


@pytest.mark.xfail(strict=True, reason="gap: the sandbox serves no resourcequotas (api-resources.yaml)")
def test_kubectl_create_quota_limits_the_namespace(payments_prod):
    create(payments_prod, "create", "quota", "small", "-n", NAMESPACE, "--hard=pods=10")
    assert read(payments_prod, "quota", "small")["spec"]["hard"] == {"pods": "10"}
