"""Cluster definitions: a team keeps its clusters as YAML files under include/clusters/ and starts a run by name.

Each file ``<name>.yaml`` holds the cluster fields of a bootstrap request (``request.CLUSTER_FIELDS``); the run
brings the run fields (connection, plan mode, approval, ticket) and ``request.with_definition`` merges the two.
A key that is not a cluster field is refused here, naming the file and the key, so that a typo such as
``kms_key: ...`` never silently leaves a cluster without its customer key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from eks_runbooks.core.bootstrap.request import CLUSTER_FIELDS, RUN_FIELDS
from eks_runbooks.core.eks.names import DEFINITION_PATTERN
from eks_runbooks.core.requests import InvalidRequest


class InvalidClusterDefinition(InvalidRequest):
    what = "cluster definition"


def _file_problems(path: Path, content: Any) -> dict[str, str]:
    if not re.fullmatch(DEFINITION_PATTERN, path.stem):
        return {path.name: "the file name is the definition's name: lower-case letters, digits, '.', '_' and '-'"}
    if not isinstance(content, dict):
        return {path.name: "holds no map of cluster fields (cluster_name: ..., subnet_ids: [...], ...)"}
    problems = {}
    for key in content:
        if key in RUN_FIELDS:
            problems[f"{path.name} {key}"] = "a run field, not a cluster field: give it when starting the run"
        elif key not in CLUSTER_FIELDS:
            problems[f"{path.name} {key}"] = f"unknown key (a definition holds: {', '.join(CLUSTER_FIELDS)})"
    return problems


def load_cluster_definitions(directory: Path) -> dict[str, dict[str, Any]]:
    """Definition name (the file's stem) → its cluster fields, from ``directory/*.yaml``; InvalidClusterDefinition
    listing every file and key that is wrong. No folder: no definitions."""
    if not directory.is_dir():
        return {}
    definitions: dict[str, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            content = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            problems[path.name] = f"is not valid YAML: {error}"
            continue
        found = _file_problems(path, content)
        problems |= found
        if not found:
            definitions[path.stem] = content
    if problems:
        raise InvalidClusterDefinition(problems)
    return definitions
