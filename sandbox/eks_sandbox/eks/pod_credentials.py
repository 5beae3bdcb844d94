"""Whether a container's AWS SDK really gets credentials on EKS, by the variables in its environment.

The SDK's default chain decides which source is used: static keys, then web identity (IRSA), then the container
provider (Pod Identity) — botocore ``credentials.create_credential_resolver``; IRSA variables hard-coded in a pod
spec therefore win over an association [runbook-facts-wave2 §1]. Then:

- IRSA (``AWS_ROLE_ARN`` + ``AWS_WEB_IDENTITY_TOKEN_FILE``): STS AssumeRoleWithWebIdentity accepts the token only
  if the cluster's IAM OIDC provider exists (in the role's account) and lists the token's audience, and the role
  exists and trusts that provider (``Principal.Federated``) for ``sts:AssumeRoleWithWebIdentity`` with ``:sub``
  and ``:aud`` conditions the token meets (StringEquals / StringLike) [UG associate-service-account-role,
  iam-roles-for-service-accounts]. The SDK refreshes before its 1-hour session ends, and STS decides again.
- Pod Identity (``AWS_CONTAINER_CREDENTIALS_FULL_URI``): the SDK must know the agent's address (minimum releases
  in include/eks/pod-identity-sdk-minimums.yaml); an EKS Pod Identity Agent must be Running and Ready on the pod's
  node [UG pod-id-agent-setup]; the pod's namespace/service account must have an association now; its role must
  trust ``pods.eks.amazonaws.com`` for ``sts:AssumeRole`` and ``sts:TagSession`` (not TagSession when the
  association disables session tags) [UG pod-id-role]. The agent caches credentials for 6 hours (59 minutes with
  a target role), so a deleted association reaches running pods only then [UG pod-id-assign-target-role].

Which SDK an image carries is no API's knowledge: the cluster's ``aws_sdks`` (a fleet-file field) says it.
Conditions other than StringEquals/StringLike on ``:sub``/``:aud`` are not evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from eks_sandbox import moto_compat
from eks_sandbox.eks.addon_workloads import app_label
from eks_sandbox.eks.aws_sdks import SdkMinimums
from eks_sandbox.eks.references import trusts
from eks_sandbox.kube.credentials import Credentials
from eks_sandbox.kube.disruption import pod_is_ready

if TYPE_CHECKING:
    from eks_sandbox.eks.clusters import Cluster
    from eks_sandbox.kube.cluster import KubeCluster

POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"
AGENT_DAEMONSET = "eks-pod-identity-agent"
#: Nodes whose Pod Identity Agent is part of EKS itself (Auto Mode) [runbook-facts-wave2 §1]
AUTO_MODE_COMPUTE_TYPE = "auto"
_STRING_TESTS = {
    "stringequals": lambda value, expected: value == expected,
    "stringlike": fnmatchcase,
}


@dataclass(frozen=True)
class RefreshTimes:
    """How long credentials last in a running container before its SDK asks again (include/sandbox/timings.yaml)."""

    irsa: timedelta
    pod_identity: timedelta
    pod_identity_target_role: timedelta


@dataclass
class CredentialRules:
    """The ``container_credentials`` of one cluster's kubelets."""

    cluster: Cluster
    sdk_minimums: SdkMinimums
    refresh: RefreshTimes

    def __call__(self, kube: KubeCluster, pod: dict[str, Any], container: dict[str, Any]) -> Credentials | None:
        env = {e["name"]: e["value"] for e in container.get("env") or [] if "value" in e}
        if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
            return None  # static keys: the first source of the chain, nothing for EKS to grant
        if env.get("AWS_ROLE_ARN") and env.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
            return self._web_identity(pod, container, env)
        if env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"):
            return self._pod_identity(kube, pod, container)
        return None

    # --- IRSA ------------------------------------------------------------------------------------------------

    def _web_identity(self, pod: dict[str, Any], container: dict[str, Any], env: dict[str, str]) -> Credentials:
        role_arn, token_file = env["AWS_ROLE_ARN"], env["AWS_WEB_IDENTITY_TOKEN_FILE"]
        audience = _token_audience(pod, container, token_file)
        if audience is None:
            return _denied(f"Error reading the web identity token file {token_file}: no such file or directory")
        issuer = self.cluster.oidc_issuer.removeprefix("https://")
        account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else self.cluster.account
        provider = moto_compat.oidc_provider(account, f"arn:aws:iam::{account}:oidc-provider/{issuer}")
        if provider is None:
            return _denied(
                "An error occurred (InvalidIdentityToken) when calling the AssumeRoleWithWebIdentity operation: "
                f"No OpenIDConnect provider found in your account for https://{issuer}"
            )
        if audience not in provider.client_ids:
            return _denied(
                "An error occurred (InvalidIdentityToken) when calling the AssumeRoleWithWebIdentity operation: "
                "Incorrect token audience"
            )
        subject = f"system:serviceaccount:{pod['metadata']['namespace']}:{_service_account(pod)}"
        role = moto_compat.iam_role(account, role_arn.rpartition("/")[2])
        if (
            role is None
            or role.arn != role_arn
            or not _trusts_web_identity(role.trust_policy, provider.arn, issuer, {"sub": subject, "aud": audience})
        ):
            return _denied(
                "An error occurred (AccessDenied) when calling the AssumeRoleWithWebIdentity operation: "
                "Not authorized to perform sts:AssumeRoleWithWebIdentity"
            )
        return Credentials(True, f"Found credentials from assume-role-with-web-identity: {role_arn}", self.refresh.irsa)

    # --- Pod Identity ----------------------------------------------------------------------------------------

    def _pod_identity(self, kube: KubeCluster, pod: dict[str, Any], container: dict[str, Any]) -> Credentials:
        declared = self.cluster.aws_sdks.get(container.get("image", ""))
        minimum = self.sdk_minimums.too_old(declared) if declared else None
        if minimum is not None:
            return _denied(
                f"{declared} predates {minimum}, the first release whose container credential provider reads EKS "
                "Pod Identity credentials: the SDK found no credentials of the pod's role and called AWS as the "
                "node (or with none)"
            )
        node = pod["spec"].get("nodeName") or ""
        if not _agent_ready(kube, node):
            return _denied(
                "Error retrieving credentials from container metadata endpoint http://169.254.170.23/v1/credentials: "
                f"connection refused (no EKS Pod Identity Agent Ready on node {node})"
            )
        namespace, account = pod["metadata"]["namespace"], _service_account(pod)
        association = next(
            (
                a
                for a in self.cluster.pod_identity_associations.values()
                if (a.namespace, a.service_account) == (namespace, account)
            ),
            None,
        )
        if association is None:
            # The exception EKS Auth answers for a service account without an association is UNCONFIRMED.
            return _denied(
                "the EKS Pod Identity Agent answered 400: AssumeRoleForPodIdentity: AccessDeniedException: no Pod "
                f"Identity association for {namespace}/{account} in cluster {self.cluster.name}"
            )
        role = moto_compat.iam_role(self.cluster.account, association.role_arn.rpartition("/")[2])
        actions = ("sts:AssumeRole",) if association.disable_session_tags else ("sts:AssumeRole", "sts:TagSession")
        if role is None or not trusts(role.trust_policy, POD_IDENTITY_PRINCIPAL, actions):
            return _denied(
                "the EKS Pod Identity Agent answered 400: AssumeRoleForPodIdentity: AccessDeniedException: EKS could "
                f"not assume {association.role_arn} ({' and '.join(actions)} for {POD_IDENTITY_PRINCIPAL})"
            )
        cached = self.refresh.pod_identity_target_role if association.target_role_arn else self.refresh.pod_identity
        return Credentials(True, f"Found credentials from container-role: {association.role_arn}", cached)


def _denied(cause: str) -> Credentials:
    return Credentials(False, f"AccessDenied: the application got no AWS credentials: {cause}")


def _service_account(pod: dict[str, Any]) -> str:
    return pod["spec"].get("serviceAccountName") or pod["spec"].get("serviceAccount") or "default"


def _token_audience(pod: dict[str, Any], container: dict[str, Any], token_file: str) -> str | None:
    """The audience of the projected service-account token mounted where ``token_file`` is, if any."""
    directory, _, name = token_file.rpartition("/")
    mounted = {
        m["name"] for m in container.get("volumeMounts") or [] if m.get("mountPath", "").rstrip("/") == directory
    }
    for volume in pod["spec"].get("volumes") or []:
        if volume.get("name") not in mounted:
            continue
        for source in (volume.get("projected") or {}).get("sources") or []:
            token = source.get("serviceAccountToken")
            if token and token.get("path") == name:
                return token.get("audience") or "sts.amazonaws.com"
    return None


def _agent_ready(kube: KubeCluster, node_name: str) -> bool:
    node = kube.store.get("", "Node", None, node_name) or {}
    if (node.get("metadata", {}).get("labels") or {}).get("eks.amazonaws.com/compute-type") == AUTO_MODE_COMPUTE_TYPE:
        return True
    label = app_label(AGENT_DAEMONSET)
    return any(
        pod["spec"].get("nodeName") == node_name
        and (pod["metadata"].get("labels") or {}).get("k8s-app") == label
        and (pod.get("status") or {}).get("phase") == "Running"
        and pod_is_ready(pod)
        for pod in kube.store.all("", "Pod", "kube-system")
    )


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _trusts_web_identity(policy: dict[str, Any], provider_arn: str, issuer: str, claims: dict[str, str]) -> bool:
    for statement in _as_list(policy.get("Statement")):
        if statement.get("Effect") != "Allow":
            continue
        if not any(fnmatchcase("sts:assumerolewithwebidentity", a.lower()) for a in _as_list(statement.get("Action"))):
            continue
        if provider_arn not in _as_list((statement.get("Principal") or {}).get("Federated")):
            continue
        if _conditions_hold(statement.get("Condition") or {}, {f"{issuer}:{k}".lower(): v for k, v in claims.items()}):
            return True
    return False


def _conditions_hold(condition: dict[str, Any], claims: dict[str, str]) -> bool:
    """Every StringEquals/StringLike test on a claim holds (condition keys are case-insensitive in IAM)."""
    for operator, tests in condition.items():
        match = _STRING_TESTS.get(operator.lower())
        if match is None:
            continue
        for key, expected in tests.items():
            value = claims.get(key.lower())
            if value is not None and not any(match(value, candidate) for candidate in _as_list(expected)):
                return False
    return True
