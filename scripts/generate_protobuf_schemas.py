"""Write sandbox/eks_sandbox/kube/protobuf-schemas.json from the generated.proto files of a Kubernetes release.

Usage: ``python scripts/generate_protobuf_schemas.py <api-repo> <apimachinery-repo> <apiextensions-apiserver-repo>
<tag> [<output>]`` where the repos are git clones (bare or not) of kubernetes/api, kubernetes/apimachinery and
kubernetes/apiextensions-apiserver, all three read at the same tag (e.g. v0.35.7 = Kubernetes 1.35.7).

Why two sources per package: the ``generated.proto`` files give the field numbers, wire types and message types,
but not the JSON encoding's names or shape. go-to-protobuf names a field after the Go field (``uID``,
``aPIGroup``, ``xKubernetesPreserveUnknownFields``, ``Webhooks``) and writes an embedded struct (``json:",inline"``:
a probe's ``handler``, a volume's ``volumeSource``, an ingress rule's ``ingressRuleValue``) as a nested message that
JSON flattens. The Go struct tags of the same package at the same tag (``json:"uid,omitempty"
protobuf:"bytes,4,opt,name=uID"``) link each field number to its JSON name, ``inline`` and ``omitempty``, and the
Go type says whether the field is a pointer: that is what decides whether encoding/json would send a zero value.

Only the messages reachable from the kinds in sandbox/eks_sandbox/kube/api-resources.yaml (at every version listed,
subresource kinds included) are written. (A DELETE's body, DeleteOptions, is not read in any encoding.)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "sandbox/eks_sandbox/kube/api-resources.yaml"
OUTPUT = ROOT / "sandbox/eks_sandbox/kube/protobuf-schemas.json"

#: Messages whose JSON form is not an object of their fields (custom MarshalJSON in Go), decoded by name.
SPECIAL = {
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "quantity",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "intorstring",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": "time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "microtime",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": "duration",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": "rawjson",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "rawjson",
}
#: apiextensions' JSON-schema unions, per version package.
APIEXTENSIONS_SPECIAL = {"JSON": "rawjson", "JSONSchemaPropsOrArray": "orarray", "JSONSchemaPropsOrBool": "orbool"}
APIEXTENSIONS_SPECIAL["JSONSchemaPropsOrStringArray"] = "orstrings"

REPOS = ("kubernetes/api", "kubernetes/apimachinery", "kubernetes/apiextensions-apiserver")
SCALARS = {"string", "bool", "bytes", "int32", "int64", "uint32", "uint64", "double", "float"}
_MESSAGE = re.compile(r"^message (\w+) \{$")
_FIELD = re.compile(r"^\s*(optional|repeated) ([\w.]+) (\w+) = (\d+);")
_MAP = re.compile(r"^\s*map<(\w+), ([\w.]+)> (\w+) = (\d+);")
_STRUCT = re.compile(r"^type (\w+) struct \{")
_GO_FIELD = re.compile(r'^\s*(?:(\w+)\s+)?(\*?[\w.\[\]*]+)\s+`[^`]*json:"([^"]*)"[^`]*protobuf:"\w+,(\d+),')


def git(repo: str, *args: str) -> str:
    """Output of git in a repo (bare or not), so the generator reads a tag without a checkout."""
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True).stdout


def parse_proto(text: str) -> tuple[str, dict[str, dict[int, tuple[str, str, str]]], set[str]]:
    """(package, {message: {number: (proto name, type, cardinality)}}, named-collection messages) of one file.

    Cardinality is "" (optional), "r" (repeated) or "m:<key type>"; types are fully qualified (no leading dot).
    A ``+protobuf.nullable=true`` message wraps a named Go slice (``ExtraValue []string``) and is a list in JSON.
    """
    package = re.search(r"^package ([\w.]+);", text, re.M).group(1)  # type: ignore[union-attr]
    messages: dict[str, dict[int, tuple[str, str, str]]] = {}
    collections: set[str] = set()
    current: dict[int, tuple[str, str, str]] = {}
    comment: list[str] = []
    for line in text.splitlines():
        if match := _MESSAGE.match(line):
            current = messages.setdefault(f"{package}.{match.group(1)}", {})
            if any("+protobuf.nullable=true" in c for c in comment):
                collections.add(f"{package}.{match.group(1)}")
        elif match := _FIELD.match(line):
            label, kind, name, number = match.groups()
            current[int(number)] = (name, _qualify(kind, package), "r" if label == "repeated" else "")
        elif match := _MAP.match(line):
            key, value, name, number = match.groups()
            current[int(number)] = (name, _qualify(value, package), f"m:{key}")
        comment = [*comment, line] if line.startswith("//") else []
    return package, messages, collections


def _qualify(kind: str, package: str) -> str:
    if kind in SCALARS:
        return kind
    return kind[1:] if kind.startswith(".") else f"{package}.{kind}"


def parse_go_tags(sources: list[str]) -> dict[str, dict[int, tuple[str, bool, bool]]]:
    """{Go struct: {field number: (JSON name, inline, encoding/json omits the zero value)}} of one Go package.

    The zero value is omitted for a non-pointer ``omitempty`` (or ``omitzero``) field; a pointer (``*int32``
    replicas) is sent whenever set, zero included, and a field without omitempty always.
    """
    structs: dict[str, dict[int, tuple[str, bool, bool]]] = {}
    current: dict[int, tuple[str, bool, bool]] | None = None
    for source in sources:
        for line in source.splitlines():
            if match := _STRUCT.match(line):
                current = structs.setdefault(match.group(1), {})
            elif line.startswith("}"):
                current = None
            elif current is not None and (match := _GO_FIELD.match(line)):
                _, go_type, json_tag, number = match.groups()
                name, *options = json_tag.split(",")
                omits = bool({"omitempty", "omitzero"} & set(options)) and not go_type.startswith("*")
                current[int(number)] = (name, "inline" in options, omits)
    return structs


def load_packages(repos: list[str], tag: str) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Every message of every generated.proto at the tag, with its fields' JSON names and zero-value rule.

    Returns (messages, special messages' JSON forms, the file each message comes from).
    """
    messages: dict[str, Any] = {}
    special = dict(SPECIAL)
    origins: dict[str, str] = {}
    for label, repo in zip(REPOS, repos, strict=True):
        paths = git(repo, "ls-tree", "-r", "--name-only", tag).split()
        for path in (p for p in paths if p.endswith("/generated.proto")):
            directory = path.rsplit("/", 1)[0]
            package, proto, collections = parse_proto(git(repo, "show", f"{tag}:{path}"))
            go_sources = [
                git(repo, "show", f"{tag}:{p}")
                for p in paths
                if p.rsplit("/", 1)[0] == directory and p.endswith(".go") and _is_type_source(p)
            ]
            tags = parse_go_tags(go_sources)
            for name, fields in proto.items():
                go_fields = tags.get(name.rsplit(".", 1)[1], {})
                messages[name] = {n: _field(f, go_fields.get(n)) for n, f in fields.items()}
                origins[name] = f"{label}:{path}"
            special.update(dict.fromkeys(collections, "list"))
            if package.startswith("k8s.io.apiextensions_apiserver."):
                special.update({f"{package}.{k}": v for k, v in APIEXTENSIONS_SPECIAL.items()})
    return messages, special, origins


def _is_type_source(path: str) -> bool:
    name = path.rsplit("/", 1)[1]
    return not (name.endswith("_test.go") or name.startswith(("zz_generated", "generated")))


def _field(proto: tuple[str, str, str], go: tuple[str, bool, bool] | None) -> list[Any]:
    """[JSON name ("" when inline), type, flags]: r (repeated), m:<key type> (map), o (omit a zero scalar) or ""."""
    name, kind, cardinality = proto
    if go is None:  # no Go struct tag (none seen at v0.35): the proto name, zero values kept
        return [name, kind, cardinality]
    json_name, inline, omits = go
    return ["" if inline else json_name, kind, "o" if omits and not cardinality and kind in SCALARS else cardinality]


def served_kinds(messages: dict[str, Any]) -> dict[str, str]:
    """{"apps/v1 Deployment": message} for every kind and version in api-resources.yaml, subresource kinds too."""
    resources = yaml.safe_load(RESOURCES.read_text())["resources"]
    kinds: dict[str, str] = {}
    for resource in resources:
        for version in resource["versions"]:
            _add_kind(kinds, messages, resource["group"], version["version"], resource["kind"])
        for sub in resource.get("subresources", []):
            if "kind" in sub:
                _add_kind(kinds, messages, sub["group"], sub["version"], sub["kind"])
    return kinds


def _add_kind(kinds: dict[str, str], messages: dict[str, Any], group: str, version: str, kind: str) -> None:
    directory = group.split(".")[0] or "core"
    suffix = f".{directory}.{version}.{kind}"
    found = [name for name in messages if name.endswith(suffix) and ".apis.meta." not in name]
    if len(found) != 1:
        raise SystemExit(f"no single message for {group}/{version} {kind}: {found}")
    kinds[f"{group}/{version} {kind}" if group else f"{version} {kind}"] = found[0]


def reachable(messages: dict[str, Any], roots: list[str]) -> list[str]:
    """The messages the roots refer to, directly or not, in a stable order."""
    seen: list[str] = []
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.append(name)
        pending.extend(kind for _, kind, _ in messages[name].values() if kind not in SCALARS and kind not in seen)
    return sorted(seen)


def build(repos: list[str], tag: str) -> dict[str, Any]:
    """The data file's content: header, kinds, special messages and the reachable messages' field tables."""
    messages, special, origins = load_packages(repos, tag)
    kinds = served_kinds(messages)
    names = reachable(messages, list(kinds.values()))
    index = {name: i for i, name in enumerate(names)}

    def ref(kind: str) -> str | int:
        return kind if kind in SCALARS else index[kind]

    return {
        "source": f"generated by scripts/generate_protobuf_schemas.py from kubernetes/api, kubernetes/apimachinery "
        f"and kubernetes/apiextensions-apiserver at {tag}: field numbers and types from these generated.proto files, "
        "JSON names, inline and omitempty from the Go struct tags beside them: "
        + ", ".join(sorted({origins[name] for name in names})),
        "tag": tag,
        "kinds": {kind: index[name] for kind, name in sorted(kinds.items())},
        "special": {str(index[name]): form for name, form in sorted(special.items()) if name in index},
        "messages": [
            [name, {str(n): [f[0], ref(f[1]), f[2]] for n, f in sorted(messages[name].items())}] for name in names
        ],
    }


def main(argv: list[str]) -> None:
    """Generate the data file from three git clones at one tag."""
    if len(argv) not in (5, 6):
        raise SystemExit(__doc__)
    api, apimachinery, apiextensions, tag = argv[1:5]
    output = Path(argv[5]) if len(argv) == 6 else OUTPUT
    data = build([api, apimachinery, apiextensions], tag)
    output.write_text(json.dumps(data, separators=(",", ":"), sort_keys=False) + "\n")
    print(f"{output}: {len(data['kinds'])} kinds, {len(data['messages'])} messages, {output.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv)
