"""The library's layers, held by reading its source: who may call AWS, who may talk to Kubernetes, what the
domain core may import."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import REPO

LIBRARY = REPO / "plugins" / "eks_runbooks"
HOOKS = LIBRARY / "hooks"
#: The report store writes to S3 through the amazon provider's S3Hook: not an EKS or EC2 call.
S3_REPORT_STORE = LIBRARY / "runs" / "reports.py"
#: Where the Kubernetes client may be used: the readers (its factory among them).
READERS = LIBRARY / "readers"


def library_modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(LIBRARY.rglob("*.py")):
        yield path, ast.parse(path.read_text(), filename=str(path))


def imported_modules(tree: ast.Module) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_only_hooks_call_eks_and_ec2():
    offenders = [
        f"{path.relative_to(REPO)}:{node.lineno} .{node.attr}"
        for path, tree in library_modules()
        if HOOKS not in path.parents and path != S3_REPORT_STORE
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in ("conn", "get_async_conn", "get_client_type")
    ]
    assert offenders == [], "AWS clients used outside hooks/: " + ", ".join(offenders)


def test_only_the_readers_use_the_kubernetes_client():
    offenders = [
        str(path.relative_to(REPO))
        for path, tree in library_modules()
        if READERS not in path.parents
        and any(name == "kubernetes" or name.startswith("kubernetes.") for name in imported_modules(tree))
    ]
    assert offenders == []


def test_the_domain_core_imports_no_airflow_aws_or_kubernetes_client():
    heavy = ("airflow", "boto3", "botocore", "kubernetes")
    offenders = {
        str(path.relative_to(REPO)): sorted(name for name in imported_modules(tree) if name.split(".")[0] in heavy)
        for path, tree in library_modules()
        if (LIBRARY / "core") in path.parents
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_library_top_level_holds_only_packages():
    assert sorted(path.name for path in LIBRARY.glob("*.py")) == ["__init__.py"]


def test_operators_and_triggers_never_import_task_bodies():
    offenders = [
        f"{path.relative_to(REPO)} imports {name}"
        for path, tree in library_modules()
        if path.parent.name in ("operators", "triggers", "hooks", "readers")
        for name in imported_modules(tree)
        if name.startswith("eks_runbooks.tasks")
    ]
    assert offenders == []
