"""EKS Pod Identity associations, and the admission step that hands pods their AWS credentials.

The mutator mirrors aws/amazon-eks-pod-identity-webhook (``pkg/handler/handler.go``): at pod creation only,
a Pod Identity association for the pod's namespace/service account wins ("Container credentials method takes
precedence") and only its variables are injected; otherwise a service account annotated
``eks.amazonaws.com/role-arn`` gets IRSA's web-identity variables. Running pods keep what they started with
until they are re-created [eks-facts §6].
"""

from __future__ import annotations

import secrets
import string
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eks_sandbox.eks.addon_workloads import IRSA_ROLE_ANNOTATION
from eks_sandbox.eks.errors import invalid_parameter, limit_exceeded, not_found, resource_in_use
from eks_sandbox.eks.operations import Request, operation, paginate

if TYPE_CHECKING:
    from eks_sandbox.eks.clusters import Cluster
    from eks_sandbox.kube.cluster import KubeCluster

#: 5,000 associations per cluster, not adjustable (docs.aws.amazon.com/eks/latest/userguide/pod-identities.html
#: "Limits"; the older figure of 1,000 is superseded) [runbook-facts-wave2 §0]
MAX_ASSOCIATIONS_PER_CLUSTER = 5000

# Pod Identity: [UG pod-id-how-it-works]; agent on 169.254.170.23, token audience pods.eks.amazonaws.com
POD_IDENTITY_TOKEN_DIR = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"
POD_IDENTITY_ENV = {
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": f"{POD_IDENTITY_TOKEN_DIR}/eks-pod-identity-token",
}
# IRSA: [UG iam-roles-for-service-accounts]; AWS_REGION/AWS_DEFAULT_REGION from the webhook's handler.go
IRSA_TOKEN_DIR = "/var/run/secrets/eks.amazonaws.com/serviceaccount"


@dataclass
class PodIdentityAssociation:
    id: str
    arn: str
    cluster_name: str
    namespace: str
    service_account: str
    role_arn: str
    created_at: datetime
    modified_at: datetime
    tags: dict[str, str]
    owner_arn: str | None = None
    disable_session_tags: bool = False
    target_role_arn: str | None = None
    external_id: str | None = None
    policy: str | None = None

    def summary(self) -> dict[str, Any]:
        summary = {
            "clusterName": self.cluster_name,
            "namespace": self.namespace,
            "serviceAccount": self.service_account,
            "associationArn": self.arn,
            "associationId": self.id,
        }
        if self.owner_arn:
            summary["ownerArn"] = self.owner_arn
        return summary

    def describe(self) -> dict[str, Any]:
        described = {
            **self.summary(),
            "roleArn": self.role_arn,
            "tags": self.tags,
            "createdAt": self.created_at,
            "modifiedAt": self.modified_at,
            "disableSessionTags": self.disable_session_tags,
        }
        for key, value in (
            ("targetRoleArn", self.target_role_arn),
            ("externalId", self.external_id),
            ("policy", self.policy),
        ):
            if value is not None:
                described[key] = value
        return described


def _association_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "a-" + "".join(secrets.choice(alphabet) for _ in range(17))


def _check_policy(disable_session_tags: bool, policy: str | None) -> None:
    # A session policy needs session tags off [BC CreatePodIdentityAssociationRequest.policy].
    if policy and not disable_session_tags:
        raise invalid_parameter("policy can only be set when disableSessionTags is true")


def create_association(
    request: Request,
    cluster: Cluster,
    namespace: str,
    service_account: str,
    role_arn: str,
    owner_arn: str | None = None,
    *,
    tags: dict[str, str] | None = None,
    disable_session_tags: bool = False,
    target_role_arn: str | None = None,
    policy: str | None = None,
) -> PodIdentityAssociation:
    for existing in cluster.pod_identity_associations.values():
        if (existing.namespace, existing.service_account) == (namespace, service_account):
            # one role per service account (eksctl-io/eksctl#7753)
            raise resource_in_use(f"Association already exists: {existing.id}")
    if len(cluster.pod_identity_associations) >= MAX_ASSOCIATIONS_PER_CLUSTER:
        raise limit_exceeded(
            f"Cluster {cluster.name} already has {MAX_ASSOCIATIONS_PER_CLUSTER} Pod Identity associations, the "
            "non-adjustable quota per cluster"
        )
    _check_policy(disable_session_tags, policy)
    association_id = _association_id()
    association = PodIdentityAssociation(
        id=association_id,
        arn=request.arn(f"podidentityassociation/{cluster.name}/{association_id}"),
        cluster_name=cluster.name,
        namespace=namespace,
        service_account=service_account,
        role_arn=role_arn,
        created_at=request.now,
        modified_at=request.now,
        tags=dict(tags or {}),
        owner_arn=owner_arn,
        disable_session_tags=disable_session_tags,
        target_role_arn=target_role_arn,
        # role chaining into another account returns an external id for its trust policy [BC]
        external_id=str(uuid.uuid4()) if target_role_arn else None,
        policy=policy,
    )
    cluster.pod_identity_associations[association_id] = association
    return association


def delete_association(cluster: Cluster, association_id: str) -> PodIdentityAssociation:
    association = cluster.pod_identity_associations.pop(association_id, None)
    if association is None:
        raise not_found(f"No Pod Identity association found for id {association_id} in cluster {cluster.name}")
    return association


def _get(cluster: Cluster, association_id: str) -> PodIdentityAssociation:
    association = cluster.pod_identity_associations.get(association_id)
    if association is None:
        raise not_found(f"No Pod Identity association found for id {association_id} in cluster {cluster.name}")
    return association


@operation("CreatePodIdentityAssociation")
def create_pod_identity_association(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])

    def run():
        association = create_association(
            request,
            cluster,
            params["namespace"],
            params["serviceAccount"],
            params["roleArn"],
            tags=params.get("tags"),
            disable_session_tags=bool(params.get("disableSessionTags", False)),
            target_role_arn=params.get("targetRoleArn"),
            policy=params.get("policy"),
        )
        return lambda: {"association": association.describe()}

    return request.idempotent("CreatePodIdentityAssociation", params, run)


@operation("DescribePodIdentityAssociation")
def describe_pod_identity_association(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    return {"association": _get(cluster, params["associationId"]).describe()}


@operation("ListPodIdentityAssociations")
def list_pod_identity_associations(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    matching = [
        a.summary()
        for a in sorted(cluster.pod_identity_associations.values(), key=lambda a: (a.namespace, a.service_account))
        if params.get("namespace") in (None, a.namespace) and params.get("serviceAccount") in (None, a.service_account)
    ]
    page, token = paginate(matching, params)
    return {"associations": page, "nextToken": token}


@operation("UpdatePodIdentityAssociation")
def update_pod_identity_association(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    association = _get(cluster, params["associationId"])

    def run():
        disable = params.get("disableSessionTags", association.disable_session_tags)
        policy = params.get("policy", association.policy)
        _check_policy(disable, policy)
        if params.get("roleArn"):
            association.role_arn = params["roleArn"]
        if "targetRoleArn" in params:
            association.target_role_arn = params["targetRoleArn"] or None
            association.external_id = (
                (association.external_id or str(uuid.uuid4())) if association.target_role_arn else None
            )
        association.disable_session_tags = disable
        association.policy = policy
        association.modified_at = request.now
        return lambda: {"association": association.describe()}

    return request.idempotent("UpdatePodIdentityAssociation", params, run)


@operation("DeletePodIdentityAssociation")
def delete_pod_identity_association(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    cluster = request.cluster(params["clusterName"])
    return {"association": delete_association(cluster, params["associationId"]).describe()}


@dataclass
class CredentialInjector:
    """The ``pod_mutators`` entry of one cluster: Pod Identity first, else IRSA, at pod creation."""

    cluster: Cluster
    region: str

    def __call__(self, kube: KubeCluster, pod: dict[str, Any]) -> None:
        metadata = pod.get("metadata") or {}
        spec = pod.setdefault("spec", {})
        namespace = metadata.get("namespace") or "default"
        service_account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        if any(
            (a.namespace, a.service_account) == (namespace, service_account)
            for a in self.cluster.pod_identity_associations.values()
        ):
            self._inject(
                spec,
                POD_IDENTITY_ENV,
                volume="eks-pod-identity-token",
                mount_path=POD_IDENTITY_TOKEN_DIR,
                audience="pods.eks.amazonaws.com",
                token_path="eks-pod-identity-token",
            )
            return
        account = kube.get("v1", "ServiceAccount", service_account, namespace)
        annotations = ((account or {}).get("metadata") or {}).get("annotations") or {}
        role_arn = annotations.get(IRSA_ROLE_ANNOTATION)
        if role_arn:
            self._inject(
                spec,
                {
                    "AWS_STS_REGIONAL_ENDPOINTS": "regional",
                    "AWS_DEFAULT_REGION": self.region,
                    "AWS_REGION": self.region,
                    "AWS_ROLE_ARN": role_arn,
                    "AWS_WEB_IDENTITY_TOKEN_FILE": f"{IRSA_TOKEN_DIR}/token",
                },
                volume="aws-iam-token",
                mount_path=IRSA_TOKEN_DIR,
                audience=annotations.get("eks.amazonaws.com/audience", "sts.amazonaws.com"),
                token_path="token",
            )

    def _inject(
        self, spec: dict[str, Any], env: dict[str, str], *, volume: str, mount_path: str, audience: str, token_path: str
    ) -> None:
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            present = {e.get("name") for e in container.get("env") or []}
            # the webhook never overrides a variable the pod already sets
            container["env"] = list(container.get("env") or []) + [
                {"name": name, "value": value} for name, value in env.items() if name not in present
            ]
            mounts = container.setdefault("volumeMounts", [])
            if not any(m.get("name") == volume for m in mounts):
                mounts.append({"name": volume, "mountPath": mount_path, "readOnly": True})
        volumes = spec.setdefault("volumes", [])
        if not any(v.get("name") == volume for v in volumes):
            volumes.append(
                {
                    "name": volume,
                    "projected": {
                        "sources": [
                            {
                                "serviceAccountToken": {
                                    "audience": audience,
                                    "expirationSeconds": 86400,
                                    "path": token_path,
                                }
                            }
                        ]
                    },
                }
            )
