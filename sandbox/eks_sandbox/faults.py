"""Fault injection: rehearse what happens when AWS throttles, fails, or an update goes wrong.

Two kinds of rule, each added from the fleet file (``faults:``), the control API (``POST /_sandbox/faults``)
or in-process (``sandbox.faults.add(...)`` / ``add_from_dict``):

- ``error`` — matching requests (service, operation, request parameters and the account the request is signed
  for, as globs) answer an AWS error instead of running, optionally only the first ``count`` times:
  ``ThrottlingException`` / ``TooManyRequestsException`` (HTTP 429), ``InternalFailure`` / ``ServerException``
  (HTTP 500), ``ServiceUnavailableException`` (HTTP 503) or ``AccessDeniedException``
  (HTTP 400, as a service answers a call the caller's IAM policy does not allow) — see ``INJECTABLE_ERRORS``;
- ``update_failure`` — the next matching EKS update ends ``Failed`` with the given ``errorCode``;
- ``nodegroup_creation_failure`` — the next matching managed node group ends its creation ``CREATE_FAILED`` with
  the health issue ``code`` (default ``NodeCreationFailure``) naming its instances, as when nodes fail to join.

Add-on degradation is not a rule: it happens at once, through ``POST /_sandbox/addons/degrade``
(``EksBackend.degrade_addon``).
"""

from __future__ import annotations

import fnmatch
import itertools
import threading
from dataclasses import dataclass, field, fields
from typing import Any

#: AWS error code → HTTP status, for the errors a fault rule may inject.
INJECTABLE_ERRORS = {
    "ThrottlingException": 429,
    "TooManyRequestsException": 429,
    "InternalFailure": 500,
    "ServerException": 500,
    "ServiceUnavailableException": 503,
    # What JSON-protocol services (EKS, Service Quotas, KMS) answer a call IAM does not allow: the sandbox does
    # not evaluate IAM policies, so a rehearsal of a role without a permission injects it [AWS API references,
    # "Common Errors": AccessDeniedException, HTTP 400].
    "AccessDeniedException": 400,
}


@dataclass
class ErrorFault:
    """Matching requests answer ``error`` (``count`` times, or always when ``count`` is None).

    :param account: glob on the account the request acts in (its signing credentials' account, as moto decides it):
        a rehearsal denies one target's role a permission while the others keep it.
    """

    service: str = "*"
    operation: str = "*"
    match: dict[str, str] = field(default_factory=dict)
    account: str = "*"
    error: str = "ThrottlingException"
    message: str = "Rate exceeded"
    count: int | None = None
    id: str = ""

    def __post_init__(self) -> None:
        _check_strings(self, "service", "operation", "account", "error", "message", "id")
        _check_match(self.match)
        _check_count(self.count)
        if self.error not in INJECTABLE_ERRORS:
            raise ValueError(f"unknown injectable error {self.error!r}; choose one of {sorted(INJECTABLE_ERRORS)}")

    @property
    def status(self) -> int:
        return INJECTABLE_ERRORS[self.error]

    def matches(self, service: str, operation: str, params: dict[str, Any], account: str = "") -> bool:
        if not fnmatch.fnmatchcase(service.lower(), self.service.lower()):
            return False
        if not fnmatch.fnmatchcase(operation, self.operation) or not fnmatch.fnmatchcase(account, self.account):
            return False
        return all(fnmatch.fnmatchcase(str(params.get(key, "")), pattern) for key, pattern in self.match.items())


@dataclass
class UpdateFailureFault:
    """The next EKS update matching these fields ends Failed with ``error_code``."""

    cluster: str = "*"
    update_type: str = "*"
    nodegroup: str | None = None
    addon: str | None = None
    error_code: str = "Unknown"
    message: str = "Update failed (injected by the sandbox)"
    count: int | None = 1
    id: str = ""

    def __post_init__(self) -> None:
        _check_strings(self, "cluster", "update_type", "error_code", "message", "id")
        _check_strings(self, "nodegroup", "addon", optional=True)
        _check_count(self.count)

    def matches(self, cluster: str, update_type: str, nodegroup: str | None, addon: str | None) -> bool:
        return (
            fnmatch.fnmatchcase(cluster, self.cluster)
            and fnmatch.fnmatchcase(update_type, self.update_type)
            and (self.nodegroup is None or fnmatch.fnmatchcase(nodegroup or "", self.nodegroup))
            and (self.addon is None or fnmatch.fnmatchcase(addon or "", self.addon))
        )


@dataclass
class NodegroupCreationFailureFault:
    """The next node group creation matching these fields ends CREATE_FAILED with one health issue."""

    cluster: str = "*"
    nodegroup: str = "*"
    code: str = "NodeCreationFailure"
    message: str = "Instances failed to join the kubernetes cluster"
    count: int | None = 1
    id: str = ""

    def __post_init__(self) -> None:
        _check_strings(self, "cluster", "nodegroup", "code", "message", "id")
        _check_count(self.count)

    def matches(self, cluster: str, nodegroup: str) -> bool:
        return fnmatch.fnmatchcase(cluster, self.cluster) and fnmatch.fnmatchcase(nodegroup, self.nodegroup)


#: Fault rule kinds, as the fleet file and the control API name them.
RULE_KINDS = {
    "error": ErrorFault,
    "update_failure": UpdateFailureFault,
    "nodegroup_creation_failure": NodegroupCreationFailureFault,
}


class FaultInjector:
    """The active fault rules of one sandbox."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._errors: list[ErrorFault] = []
        self._update_failures: list[UpdateFailureFault] = []
        self._creation_failures: list[NodegroupCreationFailureFault] = []

    def _rules_of(self, rule: object) -> list:
        if isinstance(rule, ErrorFault):
            return self._errors
        return self._update_failures if isinstance(rule, UpdateFailureFault) else self._creation_failures

    def add(self, rule: ErrorFault | UpdateFailureFault | NodegroupCreationFailureFault) -> str:
        """Activate a rule; returns its id (for ``remove``)."""
        with self._lock:
            rule.id = rule.id or f"fault-{next(self._ids)}"
            self._rules_of(rule).append(rule)
            return rule.id

    def add_from_dict(self, spec: dict[str, Any]) -> str:
        """Activate a rule described as in the fleet file or the control API (``kind``: one of ``RULE_KINDS``)."""
        spec = dict(spec)
        kind = spec.pop("kind", "error")
        rule_class = RULE_KINDS.get(kind)
        if rule_class is None:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(RULE_KINDS)}")
        known = [f.name for f in fields(rule_class)]
        unknown = sorted(set(spec) - set(known))
        if unknown:
            raise ValueError(
                f"unknown field {unknown[0]!r} in a {kind!r} fault rule; its fields are: kind, {', '.join(known)}"
            )
        return self.add(rule_class(**spec))

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            for rules in (self._errors, self._update_failures, self._creation_failures):
                for rule in rules:
                    if rule.id == rule_id:
                        rules.remove(rule)
                        return True
        return False

    def clear(self) -> None:
        with self._lock:
            self._errors.clear()
            self._update_failures.clear()
            self._creation_failures.clear()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            kinds = {rule_class: kind for kind, rule_class in RULE_KINDS.items()}
            every = [*self._errors, *self._update_failures, *self._creation_failures]
            return [{"kind": kinds[type(rule)], **vars(rule)} for rule in every]

    def error_for(self, service: str, operation: str, params: dict[str, Any], account: str = "") -> ErrorFault | None:
        """The error fault that a request signed for ``account`` should answer with, if any (consumes one of its
        ``count``)."""
        with self._lock:
            return _take_first(self._errors, lambda rule: rule.matches(service, operation, params, account))

    def nodegroup_creation_failure_for(self, cluster: str, nodegroup: str) -> NodegroupCreationFailureFault | None:
        """The failure a node group's creation should end with, if any (consumes one of its ``count``)."""
        with self._lock:
            return _take_first(self._creation_failures, lambda rule: rule.matches(cluster, nodegroup))

    def update_failure_for(
        self, cluster: str, update_type: str, nodegroup: str | None = None, addon: str | None = None
    ) -> UpdateFailureFault | None:
        """The failure an EKS update should end with, if any (consumes one of its ``count``)."""
        with self._lock:
            return _take_first(self._update_failures, lambda rule: rule.matches(cluster, update_type, nodegroup, addon))


def _check_strings(rule: object, *names: str, optional: bool = False) -> None:
    for name in names:
        value = getattr(rule, name)
        if not (isinstance(value, str) or (optional and value is None)):
            raise ValueError(f"fault rule field {name!r} must be a string, got {value!r}")


def _check_match(match: object) -> None:
    if not isinstance(match, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in match.items()):
        raise ValueError(
            f"fault rule field 'match' must map request parameter names to glob strings, e.g. "
            f'{{"name": "payments-*"}}; got {match!r}'
        )


def _check_count(count: object) -> None:
    # bool is an int to Python, but `count: true` in a rule is a mistake, not "once".
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError(f"fault rule field 'count' must be a whole number >= 1, or absent for always; got {count!r}")


def _take_first(rules: list, predicate) -> Any:
    for rule in rules:
        if predicate(rule):
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0:
                    rules.remove(rule)
            return rule
    return None
