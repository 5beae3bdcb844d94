"""The three PATCH formats kube-apiserver accepts: JSON merge, strategic merge and JSON patch.

Strategic merge is what kubectl sends (``set image``, ``rollout restart``, ``cordon``, client-side ``apply``):
lists of containers, env vars, volumes and ports merge element by element on their merge key instead of being
replaced, so ``{"containers": [{"name": "web", "image": "v2"}]}`` changes one image and keeps the rest.

Each format also tells which fields a patch sent (``*_fields``): a patch's managedFields entry owns those, not
the whole object the patch left behind, as kube-apiserver's Update entries own only the fields a write set.
"""

from __future__ import annotations

import copy
from typing import Any

from eks_sandbox.kube.errors import KubeApiError

#: patchMergeKey of the list fields that runbooks and kubectl patch, from the Kubernetes API types
#: (k8s.io/api core/v1 and apps/v1 ``+patchMergeKey`` tags). Lists not named here are replaced.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
    "readinessGates": "conditionType",
    "addresses": "type",
    "topologySpreadConstraints": "topologyKey",
}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: maps merge recursively, ``null`` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Kubernetes strategic merge patch for the common list fields (see ``MERGE_KEYS``).

    Supports ``$patch: replace|delete`` in maps and list elements and ignores the ``$setElementOrder`` and
    ``$retainKeys`` directives kubectl adds (ordering and pruning do not change what runbooks observe).
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and _merge_key(key, value, result.get(key)):
            result[key] = _merge_list(result.get(key) or [], value, _merge_key(key, value, result.get(key)))
        elif isinstance(value, dict):
            merged = strategic_merge_patch(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_key(field: str, patch_list: list[Any], current: Any) -> str | None:
    # Container ports merge on containerPort, service ports on port: same field name, different key.
    if field == "ports":
        sample = next((item for item in [*patch_list, *(current or [])] if isinstance(item, dict)), {})
        return "containerPort" if "containerPort" in sample else "port"
    return MERGE_KEYS.get(field)


def _merge_list(current: list[Any], patch_list: list[Any], key: str) -> list[Any]:
    result = copy.deepcopy(current)
    for item in patch_list:
        if not isinstance(item, dict) or key not in item:
            raise KubeApiError.bad_request(f"map in a merging list lacks the merge key {key!r}")
        index = next((i for i, existing in enumerate(result) if existing.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append({k: copy.deepcopy(v) for k, v in item.items() if not k.startswith("$")})
        else:
            result[index] = strategic_merge_patch(result[index], item)
    return result


def json_patch(target: Any, operations: list[dict[str, Any]]) -> Any:
    """RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    if not isinstance(operations, list):
        raise KubeApiError.bad_request("a JSON patch must be a list of operations")
    document = copy.deepcopy(target)
    for operation in operations:
        op, path = operation.get("op"), operation.get("path", "")
        if op == "add":
            document = _pointer_set(document, path, copy.deepcopy(operation["value"]), insert=True)
        elif op == "remove":
            document = _pointer_remove(document, path)
        elif op == "replace":
            _pointer_get(document, path)
            document = _pointer_set(document, path, copy.deepcopy(operation["value"]), insert=False)
        elif op == "move":
            value = _pointer_get(document, operation["from"])
            document = _pointer_remove(document, operation["from"])
            document = _pointer_set(document, path, value, insert=True)
        elif op == "copy":
            document = _pointer_set(
                document, path, copy.deepcopy(_pointer_get(document, operation["from"])), insert=True
            )
        elif op == "test":
            if _pointer_get(document, path) != operation.get("value"):
                raise KubeApiError(
                    422,
                    "Invalid",
                    f"the server rejected our request due to an error in our request: testing value {path} failed",
                )
        else:
            raise KubeApiError.bad_request(f"unexpected JSON patch operation {op!r}")
    return document


def merge_patch_fields(patch: Any) -> Any:
    """The fields a JSON merge patch sets: the patch without what it deletes (``null``)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    return _pruned({key: merge_patch_fields(value) for key, value in patch.items() if value is not None}, patch)


def strategic_merge_patch_fields(patch: Any) -> Any:
    """The fields a strategic merge patch sets: without ``null``s, ``$`` directives and items it deletes."""
    if isinstance(patch, list):
        return [strategic_merge_patch_fields(item) for item in patch if not _deletes(item)]
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    kept = {
        key: strategic_merge_patch_fields(value)
        for key, value in patch.items()
        if not key.startswith("$") and value is not None and not _deletes(value)
    }
    return _pruned(kept, patch)


def _deletes(value: Any) -> bool:
    return isinstance(value, dict) and value.get("$patch") == "delete"


def _pruned(kept: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    # A map or list whose every entry was deleted sets nothing: leave it out rather than own it as a whole.
    return {key: value for key, value in kept.items() if value not in ({}, []) or patch[key] in ({}, [])}


def json_patch_fields(operations: list[dict[str, Any]], patched: Any) -> dict[str, Any]:
    """The fields a JSON patch sets: the paths it adds, replaces, copies or moves to, read from ``patched``.

    An item of a list whose items have names is sent alone (with its name); any other list is sent whole. A list
    index (``-``: the last item) names the item at that index once the whole patch is applied.
    """
    sent: dict[str, Any] = {}
    for operation in operations:
        if operation.get("op") in ("add", "replace", "copy", "move"):
            sent = _merged_fields(sent, _path_fields(patched, _tokens(operation.get("path", ""))))
    return sent


def _path_fields(node: Any, tokens: list[str]) -> Any:
    """The part of ``node`` along ``tokens``; None when the path is gone (a later operation removed it)."""
    if not tokens:
        return copy.deepcopy(node)
    head, rest = tokens[0], tokens[1:]
    if isinstance(node, dict):
        child = _path_fields(node[head], rest) if head in node else None
        return None if child is None else {head: child}
    if not isinstance(node, list) or not (head == "-" or head.isdigit()):
        return None
    index = len(node) - 1 if head == "-" else int(head)
    if not 0 <= index < len(node):
        return None
    item = node[index]
    if not (isinstance(item, dict) and "name" in item):
        return copy.deepcopy(node)
    child = _path_fields(item, rest)
    return None if child is None else [{"name": item["name"], **child}]


def _merged_fields(sent: Any, more: Any) -> Any:
    """Two operations' fields together: maps merge, named list items merge by name, anything else is replaced."""
    if more is None:
        return sent
    if isinstance(sent, dict) and isinstance(more, dict):
        return {**sent, **{key: _merged_fields(sent.get(key), value) for key, value in more.items()}}
    if _named(sent) and _named(more):
        items = {item["name"]: item for item in sent}
        for item in more:
            items[item["name"]] = _merged_fields(items.get(item["name"]), item)
        return list(items.values())
    return more


def _named(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) and "name" in item for item in value)


def _tokens(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise KubeApiError.bad_request(f"invalid JSON pointer {path!r}")
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def _pointer_get(document: Any, path: str) -> Any:
    for token in _tokens(path):
        document = _child(document, token, path)
    return document


def _child(node: Any, token: str, path: str) -> Any:
    try:
        return node[int(token)] if isinstance(node, list) else node[token]
    except (KeyError, IndexError, ValueError, TypeError):
        raise KubeApiError(
            422,
            "Invalid",
            f"the server rejected our request due to an error in our request: jsonpatch path {path} does not exist",
        ) from None


def _pointer_set(document: Any, path: str, value: Any, *, insert: bool) -> Any:
    tokens = _tokens(path)
    if not tokens:
        return value
    parent = document
    for token in tokens[:-1]:
        parent = _child(parent, token, path)
    last = tokens[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if insert:
            parent.insert(index, value)
        else:
            parent[index] = value
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise KubeApiError.bad_request(f"cannot set {path}: parent is not a container")
    return document


def _pointer_remove(document: Any, path: str) -> Any:
    tokens = _tokens(path)
    _pointer_get(document, path)
    parent = document
    for token in tokens[:-1]:
        parent = _child(parent, token, path)
    if isinstance(parent, list):
        del parent[int(tokens[-1])]
    else:
        del parent[tokens[-1]]
    return document
