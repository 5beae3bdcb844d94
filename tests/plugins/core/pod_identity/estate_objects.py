"""Kubernetes objects as the API serves them, for the Pod Identity core's tests."""

from __future__ import annotations

from typing import Any

ROLE = "arn:aws:iam::123456789012:role/orders-app"
IRSA_ENV = [
    {"name": "AWS_ROLE_ARN", "value": ROLE},
    {"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"},
]
POD_IDENTITY_ENV = [
    {"name": "AWS_CONTAINER_CREDENTIALS_FULL_URI", "value": "http://169.254.170.23/v1/credentials"},
    {"name": "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "value": "/var/run/secrets/pods.eks.amazonaws.com/x"},
]


def service_account(namespace: str, name: str, role: str | None = ROLE) -> dict[str, Any]:
    annotations = {"eks.amazonaws.com/role-arn": role} if role else {}
    return {"metadata": {"namespace": namespace, "name": name, "annotations": annotations}}


def deployment(namespace: str, name: str, account: str, env: list | None = None, **template_metadata: Any) -> dict:
    return {
        "metadata": {"namespace": namespace, "name": name, "generation": 1},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, **template_metadata},
                "spec": {
                    "serviceAccountName": account,
                    "containers": [{"name": "app", "image": f"example/{name}:1", "env": env or []}],
                },
            },
        },
    }


def replica_set(namespace: str, deployment_name: str) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": namespace,
            "name": f"{deployment_name}-5d9f",
            "ownerReferences": [{"kind": "Deployment", "name": deployment_name}],
        }
    }


def pod(
    namespace: str,
    name: str,
    account: str,
    *,
    env: list | None = None,
    owner: tuple[str, str] | None = None,
    node: str = "ip-10-0-1-10.ec2.internal",
    ready: bool = True,
    waiting: str | None = None,
) -> dict[str, Any]:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {
        "metadata": {
            "namespace": namespace,
            "name": name,
            "creationTimestamp": "2026-01-20T00:00:00Z",
            "ownerReferences": [{"kind": owner[0], "name": owner[1]}] if owner else [],
        },
        "spec": {
            "serviceAccountName": account,
            "nodeName": node,
            "containers": [{"name": "app", "image": "example/app:1", "env": env if env is not None else IRSA_ENV}],
        },
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "app", "state": state}],
        },
    }


def node(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/os": "linux", **labels}}}
