"""Object storage of one simulated cluster: what etcd holds behind kube-apiserver.

Objects are stored once per group+kind (not per version), with the server-set metadata kube-apiserver adds:
``uid``, ``resourceVersion`` from one increasing counter, ``creationTimestamp`` from the simulated clock and
``generation`` bumped whenever ``spec`` changes. Writes that change nothing keep the resourceVersion, which is
what lets the controllers run to a fixed point.
"""

from __future__ import annotations

import copy
import json
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from eks_sandbox.clock import SimClock

#: Alphabet of generated name suffixes (k8s.io/apimachinery/pkg/util/rand: no vowels, no look-alikes).
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

Key = tuple[str, str]

#: How many changes a store remembers for watches; an older resourceVersion answers 410 Gone, as etcd compaction
#: makes kube-apiserver answer (watch cache of about this size per resource in kube-apiserver).
WATCH_HISTORY = 10_000


@dataclass(frozen=True)
class WatchEvent:
    """One change of one object: ADDED, MODIFIED or DELETED, at the store's resourceVersion after it."""

    resource_version: int
    type: str
    group: str
    kind: str
    object: dict[str, Any]


class ResourceVersionTooOld(Exception):
    """A watch asked for changes the store no longer remembers."""


class ObjectStore:
    """Live objects by (group, kind) then (namespace, name); callers copy before they change anything."""

    def __init__(self, clock: SimClock, seed: str) -> None:
        self.clock = clock
        self.resource_version = 0
        # Seeded per cluster so that generated names and uids repeat from one test run to the next.
        self.random = random.Random(seed)
        self._objects: dict[Key, dict[Key, dict[str, Any]]] = {}
        #: Recent changes, and the condition watchers wait on; taken briefly, never with the sandbox lock waited on.
        self._events: deque[WatchEvent] = deque(maxlen=WATCH_HISTORY)
        self._changed = threading.Condition(threading.Lock())

    def now(self) -> str:
        """The simulated time as Kubernetes serialises timestamps (RFC 3339, seconds, UTC)."""
        return self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    def new_uid(self) -> str:
        return str(uuid.UUID(int=self.random.getrandbits(128), version=4))

    def random_suffix(self, length: int = 5) -> str:
        return "".join(self.random.choice(NAME_ALPHABET) for _ in range(length))

    def all(self, group: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Live objects of a kind (in one namespace, or all), ordered by namespace then name."""
        objects = self._objects.get((group, kind), {})
        return [objects[key] for key in sorted(objects) if namespace is None or key[0] == namespace]

    def get(self, group: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self._objects.get((group, kind), {}).get((namespace or "", name))

    def insert(self, group: str, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object, adding the metadata the apiserver sets on create."""
        metadata = obj.setdefault("metadata", {})
        metadata["uid"] = self.new_uid()
        metadata["creationTimestamp"] = self.now()
        if "spec" in obj and kind != "Pod":
            metadata["generation"] = 1
        self._bump(metadata)
        self._objects.setdefault((group, kind), {})[(metadata.get("namespace") or "", metadata["name"])] = obj
        self._record("ADDED", group, kind, obj)
        return obj

    def save(self, group: str, kind: str, obj: dict[str, Any]) -> bool:
        """Replace the stored copy of ``obj`` if anything changed; returns whether it did."""
        metadata = obj["metadata"]
        key = (metadata.get("namespace") or "", metadata["name"])
        current = self._objects[(group, kind)][key]
        if _without_resource_version(current) == _without_resource_version(obj):
            return False
        if "generation" in current["metadata"]:
            generation = current["metadata"]["generation"]
            metadata["generation"] = generation + 1 if obj.get("spec") != current.get("spec") else generation
        self._bump(metadata)
        self._objects[(group, kind)][key] = obj
        self._record("MODIFIED", group, kind, obj)
        return True

    def remove(self, group: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        removed = self._objects.get((group, kind), {}).pop((namespace or "", name), None)
        if removed is not None:
            self.resource_version += 1
            # The DELETED event carries the object's last state at the resourceVersion of its deletion.
            gone = {**removed, "metadata": {**removed["metadata"], "resourceVersion": str(self.resource_version)}}
            self._record("DELETED", group, kind, gone)
        return removed

    def kinds(self) -> list[Key]:
        return sorted(self._objects)

    def events_after(
        self, resource_version: int, group: str, kind: str, deadline: float, pause: Callable[[], float] = lambda: 1.0
    ) -> Iterator[WatchEvent | None]:
        """The changes of one kind after ``resource_version``, waiting (until ``deadline``, a ``time.monotonic``
        instant) for new ones; yields None after each ``pause()`` seconds nothing happens, so that the caller can
        let simulated time act (a rollout's next step) and notice a gone client.

        Raises ResourceVersionTooOld if changes after ``resource_version`` have been forgotten.
        """
        seen = resource_version
        while True:
            with self._changed:
                oldest = self._events[0].resource_version if self._events else self.resource_version + 1
                if self._events.maxlen == len(self._events) and seen < oldest - 1:
                    raise ResourceVersionTooOld(f"too old resource version: {seen} ({oldest - 1})")
                pending = [e for e in self._events if e.resource_version > seen]
                if not pending:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return
                    self._changed.wait(min(remaining, pause()))
                    pending = [e for e in self._events if e.resource_version > seen]
            if pending:
                seen = pending[-1].resource_version
            matching = [e for e in pending if (e.group, e.kind) == (group, kind)]
            yield from matching if matching else [None]

    def _record(self, event_type: str, group: str, kind: str, obj: dict[str, Any]) -> None:
        # Stored objects are never changed in place (callers copy first), so the event can share them.
        with self._changed:
            self._events.append(WatchEvent(self.resource_version, event_type, group, kind, obj))
            self._changed.notify_all()

    def _bump(self, metadata: dict[str, Any]) -> None:
        self.resource_version += 1
        metadata["resourceVersion"] = str(self.resource_version)


def clone(obj: Any) -> Any:
    """A deep copy of JSON-shaped data; several times faster than ``copy.deepcopy`` on API objects."""
    return json.loads(json.dumps(obj))


def _without_resource_version(obj: dict[str, Any]) -> dict[str, Any]:
    stripped = copy.copy(obj)
    stripped["metadata"] = {k: v for k, v in obj["metadata"].items() if k not in ("resourceVersion", "generation")}
    return stripped
