"""User impersonation as kube-apiserver does it: ``kubectl --as``, ``--as-group``, ``--as-uid``.

A platform team rehearses an RBAC change by asking as the subject (``kubectl auth can-i delete pods
--as=system:serviceaccount:ns:deployer``); evaluated as the caller, the answer would be the admin's, worse than none.
kube-apiserver's filter (k8s.io/apiserver ``pkg/endpoints/filters/impersonation.go``) runs after authentication
and before authorization: each ``Impersonate-User``, ``Impersonate-Group``, ``Impersonate-Extra-<key>`` and
``Impersonate-Uid`` header becomes one request the caller must be allowed the verb ``impersonate`` on
(``users``, or ``serviceaccounts`` in the account's namespace, ``groups``, ``userextras/<key>`` and ``uids`` of
``authentication.k8s.io``), and the request then runs as the user they describe: RBAC, the self-reviews and
everything after see that user. The impersonated user carries no EKS access policy: the sandbox grants those to the
IAM principal that authenticated (the caller), not to a name a header sets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

from eks_sandbox.kube.auth import KubeUser
from eks_sandbox.kube.errors import KubeApiError
from eks_sandbox.kube.rbac import RequestAttributes, allows, forbidden

if TYPE_CHECKING:
    from eks_sandbox.kube.cluster import KubeCluster

USER_HEADER = "impersonate-user"
GROUP_HEADER = "impersonate-group"
UID_HEADER = "impersonate-uid"
EXTRA_HEADER_PREFIX = "impersonate-extra-"
AUTHENTICATION_GROUP = "authentication.k8s.io"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
ANONYMOUS_USER = "system:anonymous"
ALL_AUTHENTICATED = "system:authenticated"
ALL_UNAUTHENTICATED = "system:unauthenticated"
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
#: A ``%`` not followed by two hex digits (the key is lower-cased before it is decoded).
_MALFORMED_ESCAPE = re.compile(r"%(?![0-9a-f]{2})")


@dataclass(frozen=True)
class ImpersonationRequest:
    """One thing a request asks to act as: the ``ObjectReference`` kube-apiserver's filter builds per header."""

    kind: str  # ServiceAccount, User, Group, UserExtra or UID
    name: str
    namespace: str = ""
    #: a UserExtra's key (kube-apiserver keeps it in ObjectReference's FieldPath)
    extra_key: str = ""

    @property
    def attributes(self) -> RequestAttributes:
        """What the caller must be allowed: verb ``impersonate`` on the resource this kind stands for."""
        resource, group = {
            "ServiceAccount": ("serviceaccounts", ""),
            "User": ("users", ""),
            "Group": ("groups", ""),
            "UserExtra": ("userextras", AUTHENTICATION_GROUP),
            "UID": ("uids", AUTHENTICATION_GROUP),
        }[self.kind]
        return RequestAttributes(
            verb="impersonate",
            resource_request=True,
            api_group=group,
            resource=resource,
            subresource=self.extra_key,
            namespace=self.namespace,
            name=self.name,
        )

    def __str__(self) -> str:
        """Go's ``%v`` of the ObjectReference (Kind Namespace Name UID APIVersion ResourceVersion FieldPath): the
        400 answer prints it."""
        api_version = f"{AUTHENTICATION_GROUP}/v1" if self.kind in ("UserExtra", "UID") else ""
        return "{" + " ".join([self.kind, self.namespace, self.name, "", api_version, "", self.extra_key]) + "}"


def impersonated_user(cluster: KubeCluster, caller: KubeUser, headers: Iterable[tuple[str, str]]) -> KubeUser:
    """Who the request runs as: ``caller`` without impersonation headers, else the user they describe once the
    caller is allowed to impersonate each part of it (403 otherwise, as kube-apiserver answers)."""
    requests = impersonation_requests(headers)
    for request in requests:
        if not allows(cluster, caller, request.attributes):
            raise forbidden(caller, request.attributes)
    return _user(requests) if requests else caller


def impersonation_requests(headers: Iterable[tuple[str, str]]) -> list[ImpersonationRequest]:
    """The requests of the impersonation headers, in kube-apiserver's order (user, groups, extras, uid); 400 for
    groups, extras or a uid without a user. Header names match case-insensitively, as Go canonicalizes them."""
    user, uid = "", ""
    groups: list[ImpersonationRequest] = []
    extras: list[ImpersonationRequest] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == USER_HEADER:
            user = user or value  # Go's Header.Get: the first value
        elif lowered == UID_HEADER:
            uid = uid or value
        elif lowered == GROUP_HEADER:
            groups.append(ImpersonationRequest("Group", value))
        elif lowered.startswith(EXTRA_HEADER_PREFIX):
            extras.append(ImpersonationRequest("UserExtra", value, extra_key=_extra_key(lowered)))
    requests = [*groups, *extras]
    if uid:
        requests.append(ImpersonationRequest("UID", uid))
    if not user:
        if requests:
            listed = " ".join(str(request) for request in requests)
            raise KubeApiError.bad_request(f"requested [{listed}] without impersonating a user")
        return []
    return [_user_request(user), *requests]


def _extra_key(lowered_header: str) -> str:
    """The extra's key: the header's rest, lower-cased, then %-decoded (``reason%2fticket``: ``reason/ticket``);
    kept encoded when an escape is malformed, as Go's url.PathUnescape fails then."""
    key = lowered_header[len(EXTRA_HEADER_PREFIX) :]
    return key if _MALFORMED_ESCAPE.search(key) else unquote(key)


def _user_request(user: str) -> ImpersonationRequest:
    """A service account's user name (serviceaccount.SplitUsername: valid namespace and name) or any other user."""
    if user.startswith(SERVICE_ACCOUNT_PREFIX):
        parts = user[len(SERVICE_ACCOUNT_PREFIX) :].split(":")
        if len(parts) == 2 and _valid_service_account(*parts):
            return ImpersonationRequest("ServiceAccount", parts[1], namespace=parts[0])
    return ImpersonationRequest("User", user)


def _valid_service_account(namespace: str, name: str) -> bool:
    return (
        len(namespace) <= 63
        and _DNS_LABEL.fullmatch(namespace) is not None
        and len(name) <= 253
        and _DNS_SUBDOMAIN.fullmatch(name) is not None
    )


def _user(requests: list[ImpersonationRequest]) -> KubeUser:
    """The impersonated user: the requested name, groups (a service account's own when none are given), extras and
    uid, with system:authenticated (system:unauthenticated for system:anonymous) added as kube-apiserver adds it."""
    first = requests[0]
    if first.kind == "ServiceAccount":
        username = f"{SERVICE_ACCOUNT_PREFIX}{first.namespace}:{first.name}"
    else:
        username = first.name
    groups = [request.name for request in requests if request.kind == "Group"]
    if first.kind == "ServiceAccount" and not groups:
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{first.namespace}"]
    extra: dict[str, tuple[str, ...]] = {}
    for request in requests:
        if request.kind == "UserExtra":
            extra[request.extra_key] = (*extra.get(request.extra_key, ()), request.name)
    uid = next((request.name for request in requests if request.kind == "UID"), "")
    return KubeUser(username, tuple(_with_all_group(username, groups)), uid, extra)


def _with_all_group(username: str, groups: list[str]) -> list[str]:
    if username == ANONYMOUS_USER:
        return groups if ALL_UNAUTHENTICATED in groups else [*groups, ALL_UNAUTHENTICATED]
    if ALL_AUTHENTICATED in groups or ALL_UNAUTHENTICATED in groups:
        return groups
    return [*groups, ALL_AUTHENTICATED]
