"""The HTTP face of a ``KubeCluster``: kube-apiserver's REST paths, verbs, errors and content types.

The sandbox dispatcher serves this app on the cluster's own port (its endpoint), holds the sandbox lock,
applies due transitions, and passes the cluster in ``environ["eks_sandbox.kube_cluster"]`` and the authenticated
user in ``environ["eks_sandbox.kube_user"]``; every request runs as that user, or as the one its impersonation
headers name if the user may impersonate it (``eks_sandbox.kube.impersonation``), and is authorized here (RBAC and
EKS access policies, ``eks_sandbox.kube.rbac``) before it is served.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import yaml
from werkzeug.wrappers import Request, Response

from eks_sandbox.kube import protobuf
from eks_sandbox.kube.auth import KubeUser
from eks_sandbox.kube.chunking import chunk
from eks_sandbox.kube.cluster import KubeCluster
from eks_sandbox.kube.discovery import api_group, api_group_list, api_resource_list, api_versions
from eks_sandbox.kube.errors import KubeApiError
from eks_sandbox.kube.impersonation import impersonated_user
from eks_sandbox.kube.managed_fields import FieldManager
from eks_sandbox.kube.openapi import openapi_group_version, openapi_index
from eks_sandbox.kube.patch import (
    json_patch,
    json_patch_fields,
    merge_patch,
    merge_patch_fields,
    strategic_merge_patch,
    strategic_merge_patch_fields,
)
from eks_sandbox.kube.rbac import authorize, request_attributes
from eks_sandbox.kube.resources import ResourceType
from eks_sandbox.kube.reviews import REVIEW_GROUPS, review
from eks_sandbox.kube.selectors import label_selector_string, parse_field_selector, parse_label_selector
from eks_sandbox.kube.store import ResourceVersionTooOld
from eks_sandbox.kube.tables import build_table, wants_table

CLUSTER_ENVIRON_KEY = "eks_sandbox.kube_cluster"
PROTOBUF = "application/vnd.kubernetes.protobuf"
USER_ENVIRON_KEY = "eks_sandbox.kube_user"
#: The request's headers as sent, one (name, value) pair per header line (set by the server's request handler):
#: WSGI joins repeated headers with commas, and ``Impersonate-Group`` is sent once per group.
HEADER_LINES_ENVIRON_KEY = "eks_sandbox.header_lines"
#: Set by the app on a response that streams (a watch): the dispatcher iterates it after releasing its lock.
STREAM_ENVIRON_KEY = "eks_sandbox.kube_stream"
#: Set by the dispatcher: runs the sandbox's due transitions under its lock (a watch's idle tick).
TICK_ENVIRON_KEY = "eks_sandbox.kube_tick"
#: A watch without timeoutSeconds ends after kube-apiserver's --min-request-timeout default (1800 s, wall time).
DEFAULT_WATCH_SECONDS = 1800.0

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: Per patch format: how it applies, and the fields it sent (what its managedFields entry owns, not the whole object
#: it leaves; a JSON patch's are read from the patched object).
_PATCHERS: dict[str, tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any]]] = {
    "application/json-patch+json": (json_patch, json_patch_fields),
    "application/merge-patch+json": (merge_patch, lambda patch, _: merge_patch_fields(patch)),
    "application/strategic-merge-patch+json": (
        strategic_merge_patch,
        lambda patch, _: strategic_merge_patch_fields(patch),
    ),
    # Server-side apply is approximated by a merge of the applied configuration (no field ownership).
    "application/apply-patch+yaml": (merge_patch, lambda patch, _: merge_patch_fields(patch)),
}


def make_kube_app() -> WsgiApp:
    """The WSGI app serving the Kubernetes API of the cluster found in ``environ``."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        cluster: KubeCluster = environ[CLUSTER_ENVIRON_KEY]
        cluster.advance()
        watch = request.args.get("watch", "").lower() in ("true", "1")
        try:
            user = impersonated_user(cluster, environ[USER_ENVIRON_KEY], environ[HEADER_LINES_ENVIRON_KEY])
            authorize(cluster, user, request_attributes(request.method, request.path, watch))
            response = _dispatch(request, cluster, user)
        except KubeApiError as error:
            response = _json(error.status(), error.code)
        if response.is_streamed:
            environ[STREAM_ENVIRON_KEY] = True
        return response(environ, start_response)

    return app


@dataclass(frozen=True)
class ResourcePath:
    """A parsed ``/api[s]/.../[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]`` path."""

    resource_type: ResourceType
    version: str
    namespace: str | None
    name: str | None
    subresource: str | None


def _dispatch(request: Request, cluster: KubeCluster, user: KubeUser) -> Response:
    segments = [segment for segment in request.path.split("/") if segment]
    if segments == ["version"]:
        return _json(cluster.version_info())
    if segments in (["healthz"], ["livez"], ["readyz"]):
        return Response("ok", mimetype="text/plain")
    if segments[:2] == ["openapi", "v3"]:
        return _openapi(cluster, segments[2:])
    if segments[:1] == ["api"]:
        return _core_api(request, cluster, user, segments[1:])
    if segments[:1] == ["apis"]:
        return _named_apis(request, cluster, user, segments[1:])
    raise KubeApiError.no_such_path()


def _core_api(request: Request, cluster: KubeCluster, user: KubeUser, rest: list[str]) -> Response:
    """``/api[/<version>/...]``: the legacy group, whose name is empty."""
    if not rest:
        return _json(api_versions(f"{request.host}"))
    return _group_version(request, cluster, user, "", rest[0], rest[1:])


def _named_apis(request: Request, cluster: KubeCluster, user: KubeUser, rest: list[str]) -> Response:
    """``/apis[/<group>[/<version>/...]]``."""
    if not rest:
        return _json(api_group_list(cluster.catalogue, cluster.minor))
    group = rest[0]
    if len(rest) == 1:
        versions = cluster.catalogue.group_versions(cluster.minor).get(group)
        if not versions:
            raise KubeApiError.no_such_path()
        return _json(api_group(group, versions))
    return _group_version(request, cluster, user, group, rest[1], rest[2:])


def _group_version(
    request: Request, cluster: KubeCluster, user: KubeUser, group: str, version: str, rest: list[str]
) -> Response:
    """A group/version's resource list, or one of its resources."""
    if not rest:
        resource_list = api_resource_list(cluster.catalogue, group, version, cluster.minor)
        if resource_list is None:
            raise KubeApiError.no_such_path()
        return _json(resource_list)
    target = _resource_path(cluster, group, version, rest)
    cluster.record_usage(group, version, target.resource_type.resource, request.headers.get("User-Agent", ""))
    if group in REVIEW_GROUPS:
        if request.method != "POST" or target.name is not None:
            raise KubeApiError.method_not_allowed()
        kind = target.resource_type.kind
        return _json(review(cluster, user, kind, target.resource_type.api_version(version), _body(request)), 201)
    return _serve_resource(request, cluster, target)


def _openapi(cluster: KubeCluster, rest: list[str]) -> Response:
    if not rest:
        return _json(openapi_index(cluster.catalogue, cluster.minor))
    if rest[0] == "api" and len(rest) == 2:
        document = openapi_group_version(cluster.catalogue, "", rest[1], cluster.minor)
    elif rest[0] == "apis" and len(rest) == 3:
        document = openapi_group_version(cluster.catalogue, rest[1], rest[2], cluster.minor)
    else:
        document = None
    if document is None:
        raise KubeApiError.no_such_path()
    return _json(document)


def _resource_path(cluster: KubeCluster, group: str, version: str, rest: list[str]) -> ResourcePath:
    namespace = None
    # /api/v1/namespaces/<name>/status addresses the namespace itself, not a resource inside it.
    namespace_subresource = group == "" and len(rest) == 3 and rest[2] in ("status", "finalize")
    if rest[0] == "namespaces" and len(rest) >= 3 and not namespace_subresource:
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        raise KubeApiError.no_such_path()
    resource_type = cluster.served_resource(group, version, rest[0])
    if resource_type is None or (namespace is not None and not resource_type.namespaced):
        raise KubeApiError.no_such_path()
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if subresource is not None and resource_type.subresource(subresource) is None:
        raise KubeApiError.no_such_path()
    return ResourcePath(resource_type, version, namespace, name, subresource)


def _serve_resource(request: Request, cluster: KubeCluster, target: ResourcePath) -> Response:
    dry_run = request.args.get("dryRun") == "All"
    if target.name is None:
        return _serve_collection(request, cluster, target, dry_run)
    if target.subresource == "eviction" and request.method == "POST":
        return _evict(request, cluster, target, dry_run)
    if target.subresource == "log" and request.method == "GET":
        return _log(request, cluster, target)
    if target.subresource == "scale":
        return _scale(request, cluster, target, dry_run)
    return _serve_object(request, cluster, target, dry_run)


def _serve_collection(request: Request, cluster: KubeCluster, target: ResourcePath, dry_run: bool) -> Response:
    if request.method == "GET":
        return _list(request, cluster, target)
    if request.method == "POST":
        created = cluster.create_object(
            target.resource_type,
            target.version,
            _body(request),
            target.namespace,
            dry_run=dry_run,
            manager=_manager(request),
        )
        return _json(created, 201)
    if request.method == "DELETE":
        return _delete_collection(request, cluster, target)
    raise KubeApiError.method_not_allowed()


def _serve_object(request: Request, cluster: KubeCluster, target: ResourcePath, dry_run: bool) -> Response:
    """One named object; PUT and PATCH pass the subresource (``status``) on."""
    if request.method == "GET":
        obj = cluster.read_object(target.resource_type, target.version, target.namespace, target.name)
        return _maybe_table(request, cluster, target, [obj]) or _json(obj)
    if request.method == "PUT":
        return _json(
            cluster.replace_object(
                target.resource_type,
                target.version,
                _body(request),
                target.namespace,
                target.name,
                subresource=target.subresource,
                dry_run=dry_run,
                manager=_manager(request),
            )
        )
    if request.method == "PATCH":
        return _patch(request, cluster, target, dry_run)
    if request.method == "DELETE":
        return _delete(cluster, target)
    raise KubeApiError.method_not_allowed()


def _list(request: Request, cluster: KubeCluster, target: ResourcePath) -> Response:
    items = cluster.list_objects(
        target.resource_type,
        target.version,
        target.namespace,
        request.args.get("labelSelector"),
        request.args.get("fieldSelector"),
    )
    resource_version = str(cluster.store.resource_version)
    if request.args.get("watch", "").lower() in ("true", "1"):
        return _watch(request, cluster, target, items)
    page = chunk(items, request.args.get("limit"), request.args.get("continue"), cluster.store.resource_version)
    table = _maybe_table(request, cluster, target, page.items)
    if table is not None:
        return table
    return _json(
        {
            "kind": f"{target.resource_type.kind}List",
            "apiVersion": target.resource_type.api_version(target.version),
            "metadata": {"resourceVersion": resource_version, **page.metadata},
            "items": page.items,
        }
    )


def _watch(request: Request, cluster: KubeCluster, target: ResourcePath, items: list[dict[str, Any]]) -> Response:
    """A watch: ADDED for every current object (unless the client resumes from a resourceVersion), then each
    change as it happens, until ``timeoutSeconds`` (wall time) or the client goes away.

    The events stream after the dispatcher has released the sandbox lock; the stream waits on its cluster's
    store, which every write notifies.
    """
    since = request.args.get("resourceVersion") or "0"
    initial = items if since == "0" else []
    start = cluster.store.resource_version if since == "0" else int(since) if since.isdigit() else 0
    timeout = float(request.args.get("timeoutSeconds") or DEFAULT_WATCH_SECONDS)
    labels_match = parse_label_selector(request.args.get("labelSelector"))
    fields_match = parse_field_selector(request.args.get("fieldSelector"))
    resource_type = target.resource_type

    def selected(obj: dict[str, Any]) -> bool:
        namespace_matches = target.namespace is None or obj["metadata"].get("namespace") == target.namespace
        return namespace_matches and labels_match(obj["metadata"].get("labels") or {}) and fields_match(obj)

    tick = request.environ.get(TICK_ENVIRON_KEY) or cluster.advance

    def stream() -> Iterator[bytes]:
        for item in initial:
            yield _event("ADDED", item)
        deadline = time.monotonic() + timeout
        events = cluster.store.events_after(
            start, resource_type.group, resource_type.kind, deadline, lambda: cluster.seconds_to_next_wakeup(1.0)
        )
        try:
            for event in events:
                if event is None:
                    # Nothing changed: let simulated time act (a pod turns Ready, a rollout steps on).
                    tick()
                    continue
                if selected(event.object):
                    yield _event(event.type, cluster.present(resource_type, event.object, target.version))
        except ResourceVersionTooOld as error:
            yield _event("ERROR", KubeApiError(410, "Expired", str(error)).status())

    return Response(stream(), mimetype="application/json")


def _event(event_type: str, obj: dict[str, Any]) -> bytes:
    return (json.dumps({"type": event_type, "object": obj}) + "\n").encode()


def _maybe_table(
    request: Request, cluster: KubeCluster, target: ResourcePath, objects: list[dict[str, Any]]
) -> Response | None:
    if not wants_table(request.headers.get("Accept", "")):
        return None
    return _json(
        build_table(
            target.resource_type.kind,
            objects,
            cluster.clock.now(),
            str(cluster.store.resource_version),
            request.args.get("includeObject", "Metadata"),
            cluster.minor,
        )
    )


def _patch(request: Request, cluster: KubeCluster, target: ResourcePath, dry_run: bool) -> Response:
    if request.mimetype not in _PATCHERS:
        raise KubeApiError.unsupported_media_type(request.mimetype)
    patcher, sent_fields = _PATCHERS[request.mimetype]
    patch = _body(request)
    try:
        current = cluster.read_object(target.resource_type, target.version, target.namespace, target.name)
    except KubeApiError as error:
        if error.code == 404 and request.mimetype == "application/apply-patch+yaml":
            return _json(
                cluster.create_object(
                    target.resource_type,
                    target.version,
                    patch,
                    target.namespace,
                    dry_run=dry_run,
                    manager=_manager(request),
                ),
                201,
            )
        raise
    patched = patcher(current, patch)
    return _json(
        cluster.replace_object(
            target.resource_type,
            target.version,
            patched,
            target.namespace,
            target.name,
            subresource=target.subresource,
            dry_run=dry_run,
            manager=_manager(request),
            sent=sent_fields(patch, patched),
        )
    )


def _manager(request: Request) -> FieldManager:
    """The field manager of a write: ``?fieldManager=``, else the client's program name; Apply for SSA."""
    return FieldManager.from_request(
        request.args.get("fieldManager"),
        request.headers.get("User-Agent", ""),
        apply=request.mimetype == "application/apply-patch+yaml",
    )


def _delete(cluster: KubeCluster, target: ResourcePath) -> Response:
    deleted = cluster.delete_object(target.resource_type, target.version, target.namespace, target.name or "")
    if target.resource_type.kind in ("Pod", "Namespace"):
        # Pods and namespaces answer with the object, marked for deletion, as kube-apiserver does.
        deleted["metadata"]["deletionTimestamp"] = cluster.store.now()
        if target.resource_type.kind == "Namespace":
            deleted["status"] = {"phase": "Terminating"}
        return _json(deleted)
    return _json(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": target.name,
                "group": target.resource_type.group,
                "kind": target.resource_type.resource,
                "uid": deleted["metadata"].get("uid"),
            },
        }
    )


def _delete_collection(request: Request, cluster: KubeCluster, target: ResourcePath) -> Response:
    items = cluster.list_objects(
        target.resource_type,
        target.version,
        target.namespace,
        request.args.get("labelSelector"),
        request.args.get("fieldSelector"),
    )
    for item in items:
        cluster.delete_object(
            target.resource_type, target.version, item["metadata"].get("namespace"), item["metadata"]["name"]
        )
    return _json(
        {
            "kind": f"{target.resource_type.kind}List",
            "apiVersion": target.resource_type.api_version(target.version),
            "metadata": {"resourceVersion": str(cluster.store.resource_version)},
            "items": items,
        }
    )


def _evict(request: Request, cluster: KubeCluster, target: ResourcePath, dry_run: bool) -> Response:
    eviction = _body(request)
    name = (eviction.get("metadata") or {}).get("name", target.name)
    if name != target.name:
        raise KubeApiError.bad_request(f"name in URL does not match name in Eviction object: {target.name} != {name}")
    options = eviction.get("deleteOptions") or {}
    cluster.evict(target.namespace or "default", target.name or "", dry_run=dry_run or options.get("dryRun") == ["All"])
    return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201)


def _log(request: Request, cluster: KubeCluster, target: ResourcePath) -> Response:
    pod = cluster.read_object(target.resource_type, target.version, target.namespace, target.name or "")
    names = [container["name"] for container in pod["spec"].get("containers") or []]
    container = request.args.get("container")
    if container is None and len(names) > 1:
        raise KubeApiError.bad_request(
            f"a container name must be specified for pod {target.name}, choose one of: [{' '.join(names)}]"
        )
    container = container or names[0]
    if container not in names:
        raise KubeApiError.bad_request(f"container {container} is not valid for pod {target.name}")
    run = cluster.container_runs.get((pod["metadata"]["uid"], container))
    if run is not None and run.log:
        # what the kubelet recorded: the credentials the container's SDK got, or the AccessDenied it died on
        return Response("\n".join(run.log) + "\n", mimetype="text/plain")
    started = cluster.clock.now() - timedelta(seconds=5)
    lines = [
        f"{started.strftime('%Y-%m-%dT%H:%M:%S.%fZ')} simulated container {container} of pod {target.name} started",
        f"{cluster.clock.now().strftime('%Y-%m-%dT%H:%M:%S.%fZ')} ready",
    ]
    return Response("\n".join(lines) + "\n", mimetype="text/plain")


def _scale(request: Request, cluster: KubeCluster, target: ResourcePath, dry_run: bool) -> Response:
    """``<workload>/scale``: an autoscaling/v1 Scale view of spec.replicas (kubectl scale, HPA)."""
    parent = cluster.read_object(target.resource_type, target.version, target.namespace, target.name or "")
    scale = _scale_of(parent)
    if request.method == "GET":
        return _json(scale)
    if request.method == "PUT":
        wanted = _body(request)
    elif request.method == "PATCH":
        if request.mimetype not in _PATCHERS:
            raise KubeApiError.unsupported_media_type(request.mimetype)
        patcher, _ = _PATCHERS[request.mimetype]
        wanted = patcher(scale, _body(request))
    else:
        raise KubeApiError.method_not_allowed()
    sent_version = (wanted.get("metadata") or {}).get("resourceVersion")
    if sent_version and sent_version != parent["metadata"]["resourceVersion"]:
        raise KubeApiError.conflict(target.resource_type.resource, target.name or "", target.resource_type.group)
    parent["spec"]["replicas"] = (wanted.get("spec") or {}).get("replicas", 0)
    updated = cluster.replace_object(
        target.resource_type,
        target.version,
        parent,
        target.namespace,
        target.name or "",
        subresource="scale",
        dry_run=dry_run,
        manager=_manager(request),
    )
    return _json(_scale_of(updated))


def _scale_of(workload: dict[str, Any]) -> dict[str, Any]:
    metadata = workload["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: metadata[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in metadata
        },
        "spec": {"replicas": workload["spec"].get("replicas", 1)},
        "status": {
            "replicas": (workload.get("status") or {}).get("replicas", 0),
            "selector": label_selector_string(workload["spec"].get("selector") or {}),
        },
    }


def _body(request: Request) -> Any:
    raw = request.get_data()
    if not raw:
        return {}
    if request.mimetype == PROTOBUF:
        return _protobuf_body(raw)
    try:
        if "yaml" in (request.mimetype or ""):
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as error:
        raise KubeApiError.bad_request(f"the body of the request could not be decoded: {error}") from None


def _protobuf_body(raw: bytes) -> dict[str, Any]:
    """A protobuf body of a kind the sandbox serves (eks_sandbox.kube.protobuf); any other kind answers 415."""
    try:
        return protobuf.decode(raw)
    except protobuf.UnknownKind:
        # Kinds the sandbox does not serve (custom resources) are read in JSON and YAML only, as kube-apiserver does.
        raise KubeApiError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: application/json, "
            f"application/yaml (got {PROTOBUF})",
        ) from None
    except protobuf.ProtobufError as error:
        raise KubeApiError.bad_request(f"the body of the request could not be decoded: {error}") from None


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
