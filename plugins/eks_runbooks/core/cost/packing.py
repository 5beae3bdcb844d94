"""How many of a node group's nodes its pods need: what each node offers once its DaemonSets are placed, and a
first-fit-decreasing packing of the other pods into those nodes by CPU, memory and pod count (all requests)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from eks_runbooks.core.cost.facts import NodeFacts, PodFacts

DAEMON_SET = "DaemonSet"


@dataclass(frozen=True)
class Room:
    """What one node offers the pods that could move: its allocatable minus its DaemonSet pods' requests."""

    cpu_millicores: int
    memory_mebibytes: int
    pods: int


@dataclass(frozen=True)
class GroupLoad:
    """A node group's nodes, the pods on them that could move (not DaemonSets), and each node's DaemonSet pods."""

    nodes: list[NodeFacts]
    workloads: list[PodFacts]
    daemons: dict[str, list[PodFacts]]

    def rooms(self, pods_per_node: Callable[[NodeFacts], int] | None = None) -> list[Room]:
        """Each node's room; ``pods_per_node`` replaces its allocatable pods (e.g. with prefix delegation)."""
        rooms = []
        for node in self.nodes:
            daemons = self.daemons.get(node.name, [])
            pods = pods_per_node(node) if pods_per_node else node.allocatable_pods
            rooms.append(
                Room(
                    node.allocatable_cpu_millicores - sum(pod.cpu_millicores for pod in daemons),
                    node.allocatable_memory_mebibytes - sum(pod.memory_mebibytes for pod in daemons),
                    pods - len(daemons),
                )
            )
        return rooms

    def nodes_needed(self, pods_per_node: Callable[[NodeFacts], int] | None = None) -> int:
        """How many of the group's nodes the movable pods need (at least one)."""
        return nodes_needed(self.workloads, self.rooms(pods_per_node))

    def pods_on(self, node: NodeFacts) -> int:
        """Every pod the node runs now, DaemonSets included."""
        return len(self.daemons.get(node.name, [])) + sum(1 for pod in self.workloads if pod.node == node.name)


def group_loads(nodes: Iterable[NodeFacts], pods: Iterable[PodFacts]) -> dict[str, GroupLoad]:
    """Node group (``NodeFacts.group``) → its load, in name order."""
    group_of = {node.name: node.group for node in nodes}
    loads: dict[str, GroupLoad] = {}
    for node in nodes:
        loads.setdefault(node.group, GroupLoad([], [], {})).nodes.append(node)
    for pod in pods:
        group = group_of.get(pod.node)
        if group is None:
            continue
        load = loads[group]
        if pod.owner_kind == DAEMON_SET:
            load.daemons.setdefault(pod.node, []).append(pod)
        else:
            load.workloads.append(pod)
    return dict(sorted(loads.items()))


def nodes_needed(pods: Sequence[PodFacts], rooms: Sequence[Room]) -> int:
    """First-fit decreasing: pods from the largest request down, each into the first opened node with room for
    its CPU, memory and one more pod; a new node (the roomiest not yet opened) when none has. At least 1."""
    candidates = sorted(rooms, key=lambda room: (room.cpu_millicores, room.memory_mebibytes, room.pods), reverse=True)
    opened: list[list[int]] = []
    for pod in sorted(pods, key=lambda pod: (pod.cpu_millicores, pod.memory_mebibytes), reverse=True):
        need = (pod.cpu_millicores, pod.memory_mebibytes, 1)
        for free in opened:
            if all(have >= wanted for have, wanted in zip(free, need, strict=True)):
                free[:] = [have - wanted for have, wanted in zip(free, need, strict=True)]
                break
        else:
            room = candidates[min(len(opened), len(candidates) - 1)] if candidates else Room(0, 0, 0)
            opened.append([room.cpu_millicores - need[0], room.memory_mebibytes - need[1], room.pods - 1])
    return max(1, len(opened))
