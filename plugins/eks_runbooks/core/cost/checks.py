"""The cost checks, one small function per entry of include/checks/cost.yaml, each answering what it found and
what acting on it would save a month (rounded to the cent once, at the end)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from eks_runbooks.core.catalogue import failed, listed, passed, skipped, warned
from eks_runbooks.core.cost.costing import NODES, PART_SOURCES, STORAGE, money, node_hourly
from eks_runbooks.core.cost.facts import (
    AUTO_MODE,
    KARPENTER,
    MANAGED,
    ON_DEMAND,
    SELF_MANAGED,
    SPOT,
    NodeFacts,
    VolumeFacts,
)
from eks_runbooks.core.cost.findings import CostInputs, CostOutcome, cost_check
from eks_runbooks.core.cost.packing import GroupLoad, group_loads

#: Owners whose pods can run anywhere and be interrupted: replicas recreated, jobs retried (without volumes).
STATELESS_OWNERS = ("Deployment", "ReplicaSet", "Job", "CronJob")
MEBIBYTES_PER_GIB = 1024


#: Fact sources (``ClusterCostFacts.errors`` keys) the checks read: node groups are judged by their pods too.
NODES_AND_PODS = (*PART_SOURCES[NODES], "pods")
PODS = ("kubernetes", "pods")


def _unreadable(inputs: CostInputs, sources: tuple[str, ...]) -> CostOutcome | None:
    """SKIP naming the failure when facts the check needs could not be read (no finding is guessed from half)."""
    failures = [f"{source}: {inputs.facts.errors[source]}" for source in sources if source in inputs.facts.errors]
    return CostOutcome(skipped(f"not judged, facts not read ({'; '.join(failures)})")) if failures else None


#: What a node group is called, by how its nodes came to be (the finding's object: nodegroup/general).
GROUP_KINDS = {MANAGED: "nodegroup", KARPENTER: "nodepool", AUTO_MODE: "nodepool", SELF_MANAGED: "nodes"}


def _group_object(load: GroupLoad) -> str:
    return f"{GROUP_KINDS.get(load.nodes[0].origin, 'nodes')}/{load.nodes[0].group}"


def _cheapest_monthly(nodes: Iterable[NodeFacts], inputs: CostInputs) -> Decimal | None:
    """The group's cheapest node per month (unrounded), at the price it is billed at; None when none is priced."""
    hourly = [price.usd for node in nodes if (price := node_hourly(node, inputs.prices)) is not None]
    return min(hourly) * inputs.rules.hours_per_month if hourly else None


def _percent(part: Decimal | int, whole: Decimal | int) -> str:
    return f"{Decimal(part) * 100 / Decimal(whole):.0f} %" if whole else "n/a"


def _requests_summary(load: GroupLoad) -> str:
    rooms = load.rooms()
    cpu = sum(pod.cpu_millicores for pod in load.workloads)
    memory = sum(pod.memory_mebibytes for pod in load.workloads)
    return (
        f"pods request {cpu / 1000:.1f} of {sum(r.cpu_millicores for r in rooms) / 1000:.1f} vCPU, "
        f"{memory / MEBIBYTES_PER_GIB:.1f} of {sum(r.memory_mebibytes for r in rooms) / MEBIBYTES_PER_GIB:.1f} GiB, "
        f"{len(load.workloads)} of {sum(r.pods for r in rooms)} pods (after DaemonSets)"
    )


def _types(nodes: Iterable[NodeFacts]) -> str:
    return ", ".join(sorted({node.instance_type for node in nodes}))


def _saving(count: int, monthly: Decimal | None) -> Decimal | None:
    return money(count * monthly) if monthly is not None else None


@cost_check("COST-IDLE-CAPACITY")
def idle_capacity(inputs: CostInputs) -> list[CostOutcome]:
    if unreadable := _unreadable(inputs, NODES_AND_PODS):
        return [unreadable]
    if not inputs.facts.workload_pods:
        # the whole cluster is idle: COST-NO-WORKLOADS counts its nodes once, with everything else it costs
        return [CostOutcome(skipped("no workload pods: COST-NO-WORKLOADS covers the cluster"))]
    results = []
    for load in group_loads(inputs.facts.nodes, inputs.facts.pods).values():
        needed = load.nodes_needed()
        spare = len(load.nodes) - needed
        evidence = f"{len(load.nodes)} x {_types(load.nodes)}: {_requests_summary(load)}"
        if spare < 1:
            results.append(CostOutcome(passed(f"{evidence}; they need all {len(load.nodes)} nodes")))
            continue
        saving = _saving(spare, _cheapest_monthly(load.nodes, inputs))
        priced = "" if saving is not None else "; the nodes are not priced, so the saving is not known"
        detail = f"{evidence}; they fit on {needed} node(s): {spare} spare{priced}"
        results.append(CostOutcome(failed(detail, [_group_object(load)]), saving))
    return results


def _max_pods_with_prefixes(inputs: CostInputs, node: NodeFacts) -> int | None:
    """What the node's type allows with prefix delegation, or None when it cannot (not Nitro, type unknown)."""
    facts = inputs.facts.instance_types.get(node.instance_type)
    if facts is None or not inputs.rules.max_pods.allows_prefixes(facts.hypervisor):
        return None
    return inputs.rules.max_pods.max_pods(
        facts.maximum_network_interfaces, facts.ipv4_addresses_per_interface, facts.vcpus, prefixes=True
    )


@cost_check("COST-PREFIX-DELEGATION")
def prefix_delegation(inputs: CostInputs) -> list[CostOutcome]:
    if unreadable := _unreadable(inputs, NODES_AND_PODS):
        return [unreadable]
    if inputs.facts.prefix_delegation is None:
        return [CostOutcome(skipped("whether the VPC CNI assigns prefixes could not be read (aws-node)"))]
    if inputs.facts.prefix_delegation:
        return [CostOutcome(passed("the VPC CNI assigns prefixes (ENABLE_PREFIX_DELEGATION=true)"))]
    return [_prefix_outcome(inputs, load) for load in group_loads(inputs.facts.nodes, inputs.facts.pods).values()]


def _prefix_outcome(inputs: CostInputs, load: GroupLoad) -> CostOutcome:
    if any(node.operating_system != "linux" for node in load.nodes):
        # Windows nodes take their prefixes from the amazon-vpc-cni ConfigMap, not aws-node's environment
        # [UG networking/cni-increase-ip-addresses.adoc]: this check reads only the Linux setting
        return CostOutcome(skipped(f"{_group_object(load)}: Windows nodes (prefix delegation set apart)"))
    if any(node.origin == AUTO_MODE for node in load.nodes):
        # Auto Mode assigns /28 prefixes itself; VPC CNI settings do not apply to it
        # (docs.aws.amazon.com/eks/latest/userguide/auto-networking.html, "Prefix delegation")
        return CostOutcome(skipped(f"{_group_object(load)}: EKS Auto Mode assigns pod addresses itself"))
    with_prefixes = {node.name: _max_pods_with_prefixes(inputs, node) for node in load.nodes}
    if None in with_prefixes.values():
        return CostOutcome(skipped(f"{_types(load.nodes)}: not every node is a known Nitro instance type"))
    counts = [f"{load.pods_on(node)}/{node.allocatable_pods}" for node in load.nodes]
    # What max pods costs: the nodes the pods need today against those they would need with prefixes (the nodes
    # they need beyond that are COST-IDLE-CAPACITY's, so the two savings never overlap).
    needed_now = load.nodes_needed()
    needed = load.nodes_needed(lambda node: with_prefixes[node.name] or 0)
    spare = needed_now - needed
    rooms = load.rooms()
    evidence = (
        f"{len(load.nodes)} x {_types(load.nodes)} with {listed(counts)} pods of their max, CPU "
        f"{_percent(sum(p.cpu_millicores for p in load.workloads), sum(r.cpu_millicores for r in rooms))} and memory "
        f"{_percent(sum(p.memory_mebibytes for p in load.workloads), sum(r.memory_mebibytes for r in rooms))} "
        f"requested; the pods need {needed_now} node(s) at today's max pods, prefixes would allow "
        f"{max(with_prefixes.values())} pods per node"
    )
    if spare < 1:
        return CostOutcome(passed(f"{evidence}, and the pods would need as many nodes"))
    saving = _saving(spare, _cheapest_monthly(load.nodes, inputs))
    detail = f"{evidence}: {needed} node(s) would do, {spare} fewer"
    return CostOutcome(failed(detail, [_group_object(load)]), saving)


def _is_stateless(load: GroupLoad) -> bool:
    """2 or more nodes running workloads, all replicated or retried and without volumes (a group running nothing
    is not asked for spot: COST-IDLE-CAPACITY or COST-NO-WORKLOADS say what to do with it)."""
    return (
        len(load.nodes) >= 2
        and bool(load.workloads)
        and all(pod.owner_kind in STATELESS_OWNERS and not pod.mounts_claim for pod in load.workloads)
    )


@cost_check("COST-SPOT-SHARE")
def spot_share(inputs: CostInputs) -> list[CostOutcome]:
    facts, policy = inputs.facts, inputs.policy
    environment = facts.tags.get(policy.environment_tag, "")
    if environment in policy.exempt_environments:
        return [CostOutcome(skipped(f"{policy.environment_tag}={environment}: spot is not asked of it"))]
    if unreadable := _unreadable(inputs, NODES_AND_PODS):
        return [unreadable]
    stateless = {name: load for name, load in group_loads(facts.nodes, facts.pods).items() if _is_stateless(load)}
    nodes = [node for load in stateless.values() for node in load.nodes]
    if not nodes:
        return [CostOutcome(skipped("no stateless node group (2 or more nodes, Deployments and Jobs without volumes)"))]
    on_demand = {node.name: inputs.prices.on_demand.get(node.instance_type) for node in nodes}
    if unpriced := sorted({node.instance_type for node in nodes if on_demand[node.name] is None}):
        return [CostOutcome(skipped(f"no on-demand price for {', '.join(unpriced)}: the spot share is not known"))]
    total = sum(price.usd for price in on_demand.values() if price)
    if not total:
        return [CostOutcome(skipped("the stateless nodes' on-demand prices sum to $0: the spot share is not known"))]
    share = sum(on_demand[node.name].usd for node in nodes if node.capacity_type == SPOT) / total
    target = policy.spot_target_share
    spot_count = sum(1 for node in nodes if node.capacity_type == SPOT)
    evidence = (
        f"stateless node groups {listed(sorted(stateless))}: {spot_count} of {len(nodes)} nodes on spot, "
        f"{_percent(share, 1)} of their on-demand cost (target {_percent(target, 1)})"
    )
    if share >= target:
        return [CostOutcome(passed(evidence))]
    saving, left_out = _spot_saving(inputs, nodes, (target - share) / (1 - share))
    if left_out:
        evidence += f"; {listed(left_out)} without a spot price in their zone left out of the saving"
    return [CostOutcome(failed(evidence, [f"cluster/{facts.cluster}"]), saving)]


def _spot_saving(inputs: CostInputs, nodes: list[NodeFacts], fraction: Decimal) -> tuple[Decimal | None, list[str]]:
    """``fraction`` of what the on-demand stateless nodes would save a month on spot in their zones (None when no
    spot price is known for any of them)."""
    difference, priced, left_out = Decimal(0), 0, []
    for node in nodes:
        if node.capacity_type != ON_DEMAND:
            continue
        spot = inputs.prices.spot.get(node.instance_type, {}).get(node.zone)
        if spot is None:
            left_out.append(node.name)
            continue
        difference += inputs.prices.on_demand[node.instance_type].usd - spot.usd
        priced += 1
    return (money(fraction * difference * inputs.rules.hours_per_month) if priced else None), left_out


@cost_check("COST-GP2-VOLUMES")
def gp2_volumes(inputs: CostInputs) -> list[CostOutcome]:
    if unreadable := _unreadable(inputs, PART_SOURCES[STORAGE]):
        return [unreadable]
    volumes = [volume for volume in inputs.facts.volumes if volume.volume_type == "gp2"]
    if not volumes:
        return [CostOutcome(passed(f"{len(inputs.facts.volumes)} volumes, none gp2"))]
    described = listed([f"{volume.claim or volume.volume_id} ({volume.size_gib} GiB)" for volume in volumes])
    gp2, gp3 = inputs.prices.ebs.get("gp2"), inputs.prices.ebs.get("gp3")
    if gp2 is None or gp3 is None:
        detail = f"{len(volumes)} gp2 volumes: {described}; gp2 or gp3 is not priced, so the saving is not known"
        return [CostOutcome(failed(detail, ["volumes/gp2"]))]
    saving, notes = _gp3_saving(inputs, volumes, gp2.usd - gp3.usd)
    size = sum(volume.size_gib for volume in volumes)
    detail = f"{len(volumes)} gp2 volumes, {size} GiB: {described}; gp3 costs {gp2.usd - gp3.usd} less per GiB-month"
    return [CostOutcome(failed(detail + "".join(f"; {note}" for note in notes), ["volumes/gp2"]), saving)]


def _gp3_saving(inputs: CostInputs, volumes: list[VolumeFacts], per_gib: Decimal) -> tuple[Decimal, list[str]]:
    """What moving the volumes to gp3 saves a month: the storage price difference, less the IOPS gp3 must be
    given above its included 3,000 to match gp2's 3 per GiB (volumes over 1,000 GiB)."""
    ebs = inputs.rules.ebs
    iops_price = inputs.prices.ebs.get(ebs.extras.get("gp3", {}).get("iops", ""))
    saving, unmatched = Decimal(0), []
    for volume in volumes:
        saving += volume.size_gib * per_gib
        extra_iops = ebs.gp2_iops(volume.size_gib) - ebs.gp3_included_iops
        if extra_iops > 0 and iops_price is not None:
            saving -= extra_iops * iops_price.usd
        elif extra_iops > 0:
            unmatched.append(f"{volume.claim or volume.volume_id} needs {extra_iops} IOPS more on gp3")
    notes = (
        [f"gp3 IOPS not priced: {listed(unmatched)}, not subtracted (the saving is an upper bound)"]
        if unmatched
        else []
    )
    return money(saving), notes


@cost_check("COST-EXTENDED-SUPPORT")
def extended_support(inputs: CostInputs) -> list[CostOutcome]:
    facts, extended = inputs.facts, inputs.cost.extended_support
    if extended is None:
        if facts.support:
            return [CostOutcome(passed(f"Kubernetes {facts.version}: {facts.support} support, {facts.upgrade_policy}"))]
        return [CostOutcome(skipped("the version's support status could not be read"))]
    adds = f"${extended.adds_monthly_usd}" if extended.adds_monthly_usd is not None else "an unpriced surcharge"
    if extended.status == "running":
        since = extended.starts or "its end of standard support"
        detail = (
            f"Kubernetes {facts.version} is in extended support since {since}: the control plane costs {adds} a "
            "month more than in standard support"
        )
        return [CostOutcome(failed(detail, [f"cluster/{facts.cluster}"]), extended.adds_monthly_usd)]
    detail = (
        f"Kubernetes {facts.version}'s standard support ends {extended.starts} and upgradePolicy is EXTENDED: from "
        f"then the control plane costs {adds} a month more"
    )
    return [CostOutcome(warned(detail, [f"cluster/{facts.cluster}"]), extended.adds_monthly_usd)]


@cost_check("COST-PREVIOUS-GENERATION")
def previous_generation(inputs: CostInputs) -> list[CostOutcome]:
    if unreadable := _unreadable(inputs, NODES_AND_PODS):
        return [unreadable]
    results = []
    for load in group_loads(inputs.facts.nodes, inputs.facts.pods).values():
        old = [
            node
            for node in load.nodes
            if (facts := inputs.facts.instance_types.get(node.instance_type)) and not facts.current_generation
        ]
        if not old:
            results.append(CostOutcome(passed(f"{_types(load.nodes)}: current generation")))
            continue
        results.append(_previous_generation_outcome(inputs, load, old))
    return results


def _previous_generation_outcome(inputs: CostInputs, load: GroupLoad, old: list[NodeFacts]) -> CostOutcome:
    prices, rules = inputs.prices.on_demand, inputs.rules
    moves, difference, unpriced = [], Decimal(0), []
    for instance_type in sorted({node.instance_type for node in old}):
        count = sum(1 for node in old if node.instance_type == instance_type)
        successor = rules.successor_of(instance_type)
        moves.append(f"{count} x {instance_type} → {successor or 'no successor listed'}")
        if successor and instance_type in prices and successor in prices:
            difference += count * max(Decimal(0), prices[instance_type].usd - prices[successor].usd)
        else:
            unpriced.append(instance_type)
    saving = None if unpriced else money(difference * rules.hours_per_month)
    detail = f"previous-generation nodes: {', '.join(moves)} (at on-demand prices)"
    if unpriced:
        detail += f"; {', '.join(unpriced)} or its successor not priced, so the saving is not known"
    return CostOutcome(warned(detail, [_group_object(load)]), saving)


@cost_check("COST-NO-WORKLOADS")
def no_workloads(inputs: CostInputs) -> list[CostOutcome]:
    facts = inputs.facts
    if unreadable := _unreadable(inputs, PODS):
        return [unreadable]
    if facts.workload_pods:
        return [CostOutcome(passed(f"{facts.workload_pods} workload pods"))]
    total = inputs.cost.monthly_usd
    detail = (
        f"no pod outside the system namespaces; the cluster costs ${total} a month "
        f"({len(facts.nodes)} nodes, {len(facts.volumes)} volumes, {len(facts.load_balancers)} load balancers)"
    )
    return [CostOutcome(warned(detail, [f"cluster/{facts.cluster}"]), total)]
