"""What kube-apiserver and EKS put in every new cluster: PriorityClasses, the gp2 StorageClass, and the API
Priority and Fairness bootstrap FlowSchemas and PriorityLevelConfigurations (data in ``bootstrap.yaml``)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

BOOTSTRAP_PATH = Path(__file__).with_name("bootstrap.yaml")
#: kube-apiserver keeps the spec of a bootstrap APF object current while this annotation is "true".
APF_AUTOUPDATE_ANNOTATION = "apf.kubernetes.io/autoupdate-spec"
#: The field manager the apiserver's APF config producer writes with (apiserver/pkg/util/flowcontrol).
APF_MANAGER = "api-priority-and-fairness-config-producer-v1"
FLOWCONTROL_GROUP = "flowcontrol.apiserver.k8s.io"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


@cache
def _data(path: Path = BOOTSTRAP_PATH) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def priority_classes() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": entry["name"]},
            "value": entry["value"],
            "description": entry["description"],
            "globalDefault": False,
            "preemptionPolicy": "PreemptLowerPriority",
        }
        for entry in _data()["priority_classes"]
    ]


def storage_class(created_at: tuple[int, int]) -> dict[str, Any]:
    """EKS's gp2 StorageClass; the default class only on clusters created below 1.30."""
    entry = dict(_data()["storage_class"])
    default_below = tuple(int(part) for part in entry.pop("default_below").split("."))
    metadata: dict[str, Any] = {"name": entry.pop("name")}
    if created_at < default_below:
        metadata["annotations"] = {DEFAULT_CLASS_ANNOTATION: "true"}
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": metadata, **entry}


def flow_control_objects(version: str) -> list[dict[str, Any]]:
    """The bootstrap PriorityLevelConfigurations, then FlowSchemas, written through ``version`` (the
    flowcontrol version the cluster's minor prefers)."""
    api_version = f"{FLOWCONTROL_GROUP}/{version}"
    annotations = {APF_AUTOUPDATE_ANNOTATION: "true"}
    levels = [
        {
            "apiVersion": api_version,
            "kind": "PriorityLevelConfiguration",
            "metadata": {"name": entry["name"], "annotations": dict(annotations)},
            "spec": convert_priority_level_spec(entry["spec"], version),
        }
        for entry in _data()["priority_levels"]
    ]
    schemas = [
        {
            "apiVersion": api_version,
            "kind": "FlowSchema",
            "metadata": {"name": entry["name"], "annotations": dict(annotations)},
            "spec": entry["spec"],
        }
        for entry in _data()["flow_schemas"]
    ]
    return [*levels, *schemas]


def convert_priority_level_spec(spec: dict[str, Any], version: str) -> dict[str, Any]:
    """A PriorityLevelConfiguration spec as ``version`` spells it: v1beta1 and v1beta2 name the shares
    ``assuredConcurrencyShares`` (renamed nominalConcurrencyShares in v1beta3, KEP-1040) and have no Exempt
    settings."""
    if version not in ("v1beta1", "v1beta2"):
        return spec
    converted = {key: value for key, value in spec.items() if key != "exempt"}
    limited = spec.get("limited")
    if isinstance(limited, dict) and "nominalConcurrencyShares" in limited:
        limited = {k: v for k, v in limited.items() if k != "nominalConcurrencyShares"}
        limited["assuredConcurrencyShares"] = spec["limited"]["nominalConcurrencyShares"]
        converted["limited"] = limited
    return converted
