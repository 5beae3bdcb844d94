"""The ``components.schemas`` of the ``/openapi/v3`` documents, derived from the Kubernetes Python client's models.

kube-apiserver publishes one schema per API type, named by its Go package (``io.k8s.api.apps.v1.DeploymentSpec``),
with each field's description and type; ``kubectl explain`` reads them, and client-side ``kubectl apply`` reads
the ``x-kubernetes-patch-merge-key`` of list fields to build strategic merge patches. The installed
``kubernetes`` client is generated from that same OpenAPI document (release noted in each model's header), so its
models carry the fields (``openapi_types``, ``attribute_map``) and descriptions (property docstrings). They are
read as text rather than imported: importing ``kubernetes.client`` loads ~800 modules (about a second), reading
the ~140 files apps/v1 needs takes a few tens of milliseconds.

The client's models name types without their API group, so the group comes from where a type is reached: types
under ``meta/v1`` are listed, so are the core types other groups reference (what a core type references is core),
the rest belong to the kind's group.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import importlib.util
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eks_sandbox.kube.patch import MERGE_KEYS

_META = "io.k8s.apimachinery.pkg.apis.meta.v1"
_TIME = f"{_META}.Time"
#: Types of k8s.io/apimachinery/pkg/apis/meta/v1 that API kinds reference.
_META_TYPES = frozenset(
    {
        "ObjectMeta",
        "ListMeta",
        "LabelSelector",
        "LabelSelectorRequirement",
        "ManagedFieldsEntry",
        "OwnerReference",
        "Condition",
        "Status",
        "StatusDetails",
        "StatusCause",
        "DeleteOptions",
        "Preconditions",
    }
)
#: Types of k8s.io/api/core/v1 that the other groups' kinds reference; what they reference is core or meta too.
#: tests/sandbox/kube/test_kube_openapi.py checks this against every core type the core kinds reach.
_CORE_ENTRIES = frozenset(
    {
        "PodTemplateSpec",
        "PersistentVolumeClaim",
        "PersistentVolumeSpec",
        "ObjectReference",
        "LocalObjectReference",
        "TypedLocalObjectReference",
        "TopologySelectorTerm",
        "EventSource",
        "ResourceRequirements",
        "NodeSelector",
        "Toleration",
    }
)
_VERSIONED = re.compile(r"^(?P<prefix>[A-Z][a-z]+)?(?P<version>V\d+(?:alpha\d+|beta\d+)?)(?P<name>[A-Z]\w*)$")
#: The generated model files' class attributes and property getters, read without parsing the whole module.
_LITERALS = re.compile(r"^    (openapi_types|attribute_map) = (\{.*?^    \})", re.MULTILINE | re.DOTALL)
_GETTERS = re.compile(r'^    @property\n    def (\w+)\(self\):\n        """(.*?)"""', re.MULTILINE | re.DOTALL)
_PRIMITIVES = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number", "format": "double"},
    "bool": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    # The client's "object" is an untyped field: IntOrString, RawExtension, JSON.
    "object": {},
}
#: Strategic merge patch strategy of the list fields that have a ``+patchMergeKey`` in k8s.io/api (types.go);
#: their merge keys are ``patch.MERGE_KEYS``, which the server applies, so both sides agree.
_PATCH_STRATEGY = {
    ("PodSpec", "containers"): "merge",
    ("PodSpec", "initContainers"): "merge",
    ("PodSpec", "ephemeralContainers"): "merge",
    ("PodSpec", "volumes"): "merge,retainKeys",
    ("PodSpec", "imagePullSecrets"): "merge",
    ("PodSpec", "hostAliases"): "merge",
    ("PodSpec", "topologySpreadConstraints"): "merge",
    ("Container", "env"): "merge",
    ("Container", "volumeMounts"): "merge",
    ("Container", "volumeDevices"): "merge",
    ("Container", "ports"): "merge",
    ("EphemeralContainer", "env"): "merge",
    ("EphemeralContainer", "volumeMounts"): "merge",
    ("EphemeralContainer", "volumeDevices"): "merge",
    ("EphemeralContainer", "ports"): "merge",
    ("ServiceSpec", "ports"): "merge",
    ("ObjectMeta", "ownerReferences"): "merge",
    ("NodeStatus", "addresses"): "merge",
}
#: Merge keys ``patch.MERGE_KEYS`` picks by the items' content; here the owning type says which.
_PORT_KEYS = {"Container": "containerPort", "EphemeralContainer": "containerPort", "ServiceSpec": "port"}


@dataclass(frozen=True)
class _Field:
    name: str
    type: str
    description: str


@functools.cache
def _models_dir() -> Path:
    spec = importlib.util.find_spec("kubernetes")
    if spec is None or spec.origin is None:
        raise RuntimeError("the kubernetes Python client is not installed")
    return Path(spec.origin).parent / "client" / "models"


@functools.cache
def models_release() -> str:
    """The version of the installed client, whose models the schemas come from."""
    return importlib.metadata.version("kubernetes")


def _module_name(class_name: str) -> str:
    # openapi-generator's snake case: V1DeploymentSpec -> v1_deployment_spec, V1beta3FlowSchema -> v1beta3_flow_schema.
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


@functools.cache
def _model(class_name: str) -> tuple[_Field, ...] | None:
    """The fields of one client model, or None when the client has no such model."""
    path = _models_dir() / f"{_module_name(class_name)}.py"
    if not path.is_file():
        return None
    text = path.read_text()
    literals = {name: ast.literal_eval(value) for name, value in _LITERALS.findall(text)}
    docs = {attr: inspect.cleandoc(ast.literal_eval(f'"""{raw}"""')) for attr, raw in _GETTERS.findall(text)}
    return tuple(
        _Field(literals["attribute_map"][attr], type_, _description(docs.get(attr, "")))
        for attr, type_ in literals["openapi_types"].items()
    )


def _description(docstring: str) -> str:
    # The getter docstring: "Gets the x of this V1Y.", a blank line, the description, ":return: ..." lines.
    paragraphs = [part.strip() for part in docstring.split("\n\n")]
    middle = [part for part in paragraphs[1:] if not part.startswith(":")]
    return " ".join(part.replace("# noqa: E501", "").strip() for part in middle)


def _referenced(type_: str) -> str | None:
    inner = re.fullmatch(r"(?:list\[|dict\[str, |dict\(str, )?(\w+)[\])]?", type_)
    name = inner.group(1) if inner else type_
    return name if name not in _PRIMITIVES and name != "datetime" else None


def reached_group(class_name: str, group: str) -> str:
    """The API group of a type referenced from a type of ``group``: core types reference only core and meta."""
    match = _VERSIONED.match(class_name)
    if group and match and not match["prefix"] and match["name"] in _CORE_ENTRIES:
        return ""
    return group


def _is_meta(class_name: str) -> bool:
    match = _VERSIONED.match(class_name)
    return bool(match and not match["prefix"] and match["version"] == "V1" and match["name"] in _META_TYPES)


def _package(group: str) -> str:
    if group == "apiextensions.k8s.io":
        return "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions"
    return f"io.k8s.api.{group.split('.')[0] or 'core'}"


def _schema_name(class_name: str, group: str) -> str:
    """``V1DeploymentSpec`` reached in apps → ``io.k8s.api.apps.v1.DeploymentSpec``."""
    match = _VERSIONED.match(class_name)
    if match is None:
        raise ValueError(f"not a versioned Kubernetes model: {class_name}")
    version = match["version"].lower()
    if _is_meta(class_name):
        return f"{_META}.{match['name']}"
    if match["prefix"]:
        prefix = match["prefix"].lower()
        group = "apiextensions.k8s.io" if prefix == "apiextensions" else prefix
    return f"{_package(group)}.{version}.{match['name']}"


def kind_model(group: str, version: str, kind: str) -> str | None:
    """The client model of one served kind (``CoreV1Event`` when the plain name belongs to another group)."""
    plain = f"V{version[1:]}{kind}"
    prefixed = f"{(group.split('.')[0] or 'core').capitalize()}{plain}"
    return next((name for name in (prefixed, plain) if _model(name) is not None), None)


def kind_schemas(group: str, version: str, kind: str) -> dict[str, dict[str, Any]]:
    """The schema of one kind and of every type it references, keyed by their canonical names."""
    root = kind_model(group, version, kind)
    if root is None:
        return {}
    schemas = dict(_type_schemas(root, group))
    name = _schema_name(root, group)
    schemas[name] = {
        **schemas[name],
        "x-kubernetes-group-version-kind": [{"group": group, "kind": kind, "version": version}],
    }
    return schemas


@functools.cache
def _type_schemas(root: str, group: str) -> tuple[tuple[str, dict[str, Any]], ...]:
    schemas: dict[str, dict[str, Any]] = {}
    pending = [(root, group)]
    while pending:
        class_name, owner_group = pending.pop()
        name = _schema_name(class_name, owner_group)
        if name in schemas:
            continue
        short = name.rsplit(".", 1)[1]
        fields = _model(class_name) or ()
        schemas[name] = {
            "type": "object",
            "properties": {field.name: _property(field, short, owner_group) for field in fields},
        }
        pending.extend(
            (ref, reached_group(ref, owner_group))
            for field in fields
            if (ref := _referenced(field.type)) and _model(ref) is not None
        )
        if any(field.type.endswith("datetime") or field.type.endswith("datetime]") for field in fields):
            schemas[_TIME] = {"type": "string", "format": "date-time"}
    return tuple(schemas.items())


def _property(field: _Field, owner: str, group: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"description": field.description} if field.description else {}
    if field.type.startswith("list["):
        schema.update({"type": "array", "items": _value(field.type[5:-1], group)})
        schema.update(_patch_metadata(owner, field.name))
    elif field.type.startswith(("dict[", "dict(")):
        schema.update({"type": "object", "additionalProperties": _value(field.type[10:-1], group)})
    else:
        schema.update(_value(field.type, group))
    return schema


def _value(type_: str, group: str) -> dict[str, Any]:
    if type_ == "datetime":
        return {"allOf": [{"$ref": f"#/components/schemas/{_TIME}"}]}
    if type_ in _PRIMITIVES or _model(type_) is None:
        return dict(_PRIMITIVES.get(type_, {}))
    reference = _schema_name(type_, reached_group(type_, group))
    return {"default": {}, "allOf": [{"$ref": f"#/components/schemas/{reference}"}]}


def _patch_metadata(owner: str, field: str) -> dict[str, str]:
    strategy = _PATCH_STRATEGY.get((owner, field))
    if field == "conditions" and owner.endswith("Status"):
        strategy = "merge"
    if strategy is None:
        return {}
    key = _PORT_KEYS[owner] if field == "ports" else MERGE_KEYS[field]
    return {"x-kubernetes-patch-merge-key": key, "x-kubernetes-patch-strategy": strategy}
