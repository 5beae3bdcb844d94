"""What an EC2 instance of a managed node group needs to become a Ready node of its cluster, and what EKS reports
when a node group's instances do not get there.

Two things EKS does not check when CreateNodegroup is called, and that fail the node group when its creation
would end (``NodeCreationFailure``, "Your launched instances are unable to register with your Amazon EKS
cluster. Common causes of this failure are insufficient node IAM role permissions ..." [BC Issue.code]; the
troubleshooting page "Nodes fail to join cluster" [UG troubleshooting.adoc#worker-node-fail]):

- the node role's policies: without them the instance never registers its Node;
- the cluster network: a registered node stays NotReady until the VPC CNI (``aws-node``) and ``kube-proxy`` run
  in the cluster, as EKS add-ons or self-managed (``bootstrapSelfManagedAddons``).

The node role's existence and its trust of ec2.amazonaws.com are checked at once, by CreateNodegroup itself
(``eks_sandbox.eks.references``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eks_sandbox import moto_compat
from eks_sandbox.kube.nodes import COMPUTE_TYPE_LABEL

if TYPE_CHECKING:
    from eks_sandbox.eks.clusters import Cluster
    from eks_sandbox.kube.cluster import KubeCluster

#: The health issue of a node group whose instances never registered (eksctl-io/eksctl#3477,
#: aws/containers-roadmap#764: "Instances failed to join the kubernetes cluster", resourceIds = instance ids).
INSTANCES_FAILED_TO_JOIN = "Instances failed to join the kubernetes cluster"
#: ... and of one whose nodes registered but are not Ready (eksctl-io/eksctl#2765,
#: terraform-aws-modules/terraform-aws-eks#2041: "Unhealthy nodes in the kubernetes cluster").
UNHEALTHY_NODES = "Unhealthy nodes in the kubernetes cluster"

AWS_MANAGED_POLICY = "arn:aws:iam::aws:policy/"
#: The node role's AWS managed policies [UG create-node-role.adoc]: each entry is satisfied by any one of its
#: policies. AmazonEC2ContainerRegistryPullOnly replaces ReadOnly for nodes that only pull (UG, 2024-10).
NODE_ROLE_POLICIES: tuple[tuple[str, ...], ...] = (
    ("AmazonEKSWorkerNodePolicy",),
    ("AmazonEC2ContainerRegistryReadOnly", "AmazonEC2ContainerRegistryPullOnly"),
)
#: "Attach AmazonEKS_CNI_Policy to the node role, or (recommended) to a role of the VPC CNI's own service account"
#: [UG create-node-role.adoc; cni-iam-role.adoc].
CNI_POLICY = "AmazonEKS_CNI_Policy"
#: The VPC CNI's node agent and its service account, and kube-proxy, as EKS and the self-managed manifests name
#: them (aws/amazon-vpc-cni-k8s config/master/aws-k8s-cni.yaml; UG managing-kube-proxy.adoc).
NETWORK_NAMESPACE = "kube-system"
CNI_DAEMON_SET = "aws-node"
CNI_SERVICE_ACCOUNT = "aws-node"
KUBE_PROXY_DAEMON_SET = "kube-proxy"


def missing_node_role_policies(cluster: Cluster, role_arn: str) -> list[str]:
    """The AWS managed policies the node role lacks for its instances to join ``cluster`` (empty: none).

    Only attached AWS managed policies count (``ListAttachedRolePolicies``): inline or customer managed policies
    granting the same actions are not read (a simplification, documented in docs/sandbox.md)."""
    role = moto_compat.iam_role(cluster.account, role_arn.rpartition("/")[2])
    attached = {arn.removeprefix(AWS_MANAGED_POLICY) for arn in (role.attached_policy_arns if role else ())}
    missing = [" or ".join(choices) for choices in NODE_ROLE_POLICIES if not attached.intersection(choices)]
    if CNI_POLICY not in attached and not cni_has_its_own_role(cluster):
        missing.append(CNI_POLICY)
    return missing


def cni_has_its_own_role(cluster: Cluster) -> bool:
    """Whether aws-node gets AWS credentials of its own: IRSA on its service account (the add-on's
    serviceAccountRoleArn annotates it), or a Pod Identity association for it with the agent installed."""
    from eks_sandbox.eks.addon_workloads import IRSA_ROLE_ANNOTATION
    from eks_sandbox.eks.addons import pod_identity_agent_installed

    account = cluster.kube.get("v1", "ServiceAccount", CNI_SERVICE_ACCOUNT, NETWORK_NAMESPACE) or {}
    if IRSA_ROLE_ANNOTATION in ((account.get("metadata") or {}).get("annotations") or {}):
        return True
    associated = any(
        (a.namespace, a.service_account) == (NETWORK_NAMESPACE, CNI_SERVICE_ACCOUNT)
        for a in cluster.pod_identity_associations.values()
    )
    return associated and pod_identity_agent_installed(cluster)


def cluster_network_ready(kube: KubeCluster, node: dict[str, Any]) -> bool:
    """Whether the kubelet of ``node`` finds its container network ready: the VPC CNI's aws-node and kube-proxy
    run in the cluster (aws-node reaches the API server through the Service IP kube-proxy programs:
    aws/amazon-vpc-cni-k8s#1078; the sandbox keeps it simple — without kube-proxy the CNI never gets ready).
    Fargate nodes bring their own network [UG fargate]."""
    if (node["metadata"].get("labels") or {}).get(COMPUTE_TYPE_LABEL) == "fargate":
        return True
    return all(
        kube.get("apps/v1", "DaemonSet", name, NETWORK_NAMESPACE) is not None
        for name in (CNI_DAEMON_SET, KUBE_PROXY_DAEMON_SET)
    )


def node_creation_failure(message: str, instance_ids: list[str]) -> dict[str, Any]:
    """The node group health issue EKS reports when its instances did not become Ready nodes."""
    return {"code": "NodeCreationFailure", "message": message, "resourceIds": list(instance_ids)}
