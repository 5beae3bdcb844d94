"""The bootstrap's pre-flight checks, one small function per entry of include/checks/bootstrap-preflight.yaml."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eks_runbooks.core.bootstrap.calls import TAG_COMPLETED
from eks_runbooks.core.bootstrap.facts import RoleFacts, load_bootstrap_facts
from eks_runbooks.core.bootstrap.preflight import (
    BOOTSTRAPPED_BY_TAG,
    PreflightInputs,
    as_date,
    check,
    in_standard_support,
    nodegroup_pod_ips_per_subnet,
    resolve_versions,
)
from eks_runbooks.core.bootstrap.request import Endpoint
from eks_runbooks.core.catalogue import Outcome, failed, listed, noted, passed, skipped
from eks_runbooks.core.eks.versions import minor_of


def _subnets_by_id(inputs: PreflightInputs) -> dict[str, Mapping[str, Any]]:
    return {subnet["SubnetId"]: subnet for subnet in inputs.subnets}


def _subnet_label(subnet: Mapping[str, Any]) -> str:
    return f"{subnet['SubnetId']} ({subnet.get('CidrBlock', '?')}, {subnet.get('AvailabilityZone', '?')})"


@check("BOOT-NAME-FREE")
def name_is_free(inputs: PreflightInputs) -> list[Outcome]:
    name, cluster = inputs.cluster_name, inputs.existing_cluster
    if cluster is None:
        return [passed(f"no cluster named {name} in {inputs.request.region}")]
    if inputs.resuming_run:
        return [passed(f"{name} exists: resuming the bootstrap started by run {inputs.resuming_run}")]
    if finished := (cluster.get("tags") or {}).get(TAG_COMPLETED):
        return [
            failed(
                f"cluster_name {name}: run {finished} already built this cluster and it passed its baseline; a "
                "bootstrap never changes a finished cluster (use the upgrade or the audit); choose another name",
                [cluster.get("arn") or f"cluster/{name}"],
            )
        ]
    return [
        failed(
            f"cluster_name {name}: a cluster of that name exists in {inputs.request.region} "
            f"({cluster.get('status', '?')}, {cluster.get('version', '?')}) and was not started by this runbook "
            f"(no {BOOTSTRAPPED_BY_TAG} tag for it); choose another name",
            [cluster.get("arn") or f"cluster/{name}"],
        )
    ]


@check("BOOT-SUBNETS-EXIST")
def subnets_exist(inputs: PreflightInputs) -> list[Outcome]:
    found = _subnets_by_id(inputs)
    missing = [subnet_id for subnet_id in inputs.request.subnet_ids if subnet_id not in found]
    if missing:
        return [
            failed(
                f"subnet_ids: {listed(missing)} not found in {inputs.request.region}; "
                "correct the ids (aws ec2 describe-subnets)",
                missing,
            )
        ]
    vpcs: dict[str, list[str]] = {}
    for subnet in found.values():
        vpcs.setdefault(subnet["VpcId"], []).append(subnet["SubnetId"])
    if len(vpcs) > 1:
        spread = "; ".join(f"{vpc}: {', '.join(ids)}" for vpc, ids in sorted(vpcs.items()))
        return [failed(f"subnet_ids span {len(vpcs)} VPCs ({spread}); name subnets of one VPC", sorted(found))]
    return [passed(f"{len(found)} subnets found, all in {next(iter(vpcs), '?')}")]


def _route_table_of(subnet: Mapping[str, Any], route_tables: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The subnet's explicitly associated route table, else its VPC's main route table [UG VPC route tables]."""
    in_vpc = [table for table in route_tables if table.get("VpcId", subnet["VpcId"]) == subnet["VpcId"]]
    for table in in_vpc:
        if any(a.get("SubnetId") == subnet["SubnetId"] for a in table.get("Associations") or []):
            return table
    return next((t for t in in_vpc if any(a.get("Main") for a in t.get("Associations") or [])), None)


def _internet_gateway(table: Mapping[str, Any]) -> str | None:
    for route in table.get("Routes") or []:
        gateway = route.get("GatewayId") or ""
        if gateway.startswith("igw-") and route.get("State", "active") == "active":
            return gateway
    return None


@check("BOOT-SUBNETS-PRIVATE")
def subnets_are_private(inputs: PreflightInputs) -> list[Outcome]:
    if not inputs.subnets:
        return [skipped("no subnet found (BOOT-SUBNETS-EXIST)")]
    public: dict[str, str] = {}
    unrouted = []
    for subnet in inputs.subnets:
        table = _route_table_of(subnet, inputs.route_tables)
        if table is None:
            unrouted.append(subnet["SubnetId"])
        elif gateway := _internet_gateway(table):
            public[subnet["SubnetId"]] = (
                f"{_subnet_label(subnet)} routes to {gateway} through {table.get('RouteTableId', '?')}"
            )
    if public:
        return [
            failed(
                f"subnet_ids: public subnet(s) {listed(list(public.values()))}; name private subnets (outbound "
                "through a NAT gateway or VPC endpoints) instead",
                public,
            )
        ]
    if unrouted:
        return [failed(f"subnet_ids: no route table found for {listed(unrouted)} (nor a main one)", unrouted)]
    return [passed(f"no route to an internet gateway from {', '.join(s['SubnetId'] for s in inputs.subnets)}")]


@check("BOOT-SUBNETS-TWO-AZS")
def subnets_span_two_zones(inputs: PreflightInputs) -> list[Outcome]:
    if not inputs.subnets:
        return [skipped("no subnet found (BOOT-SUBNETS-EXIST)")]
    facts = load_bootstrap_facts()
    unsupported = [s for s in inputs.subnets if s.get("AvailabilityZoneId") in facts.unsupported_zone_ids]
    zones = sorted({s["AvailabilityZone"] for s in inputs.subnets if s not in unsupported})
    outcomes = []
    if unsupported:
        named = [f"{_subnet_label(s)} in zone id {s['AvailabilityZoneId']}" for s in unsupported]
        outcomes.append(
            failed(
                f"subnet_ids: EKS has no capacity in the zone of {listed(named)}; choose subnets in other zones",
                [s["SubnetId"] for s in unsupported],
            )
        )
    if len(zones) < facts.min_availability_zones:
        outcomes.append(
            failed(
                f"subnet_ids: the usable subnets are in {len(zones)} Availability Zone(s) ({', '.join(zones) or '-'}); "
                f"EKS needs {facts.min_availability_zones}: add a subnet in another zone",
                [s["SubnetId"] for s in inputs.subnets],
            )
        )
    return outcomes or [passed(f"{len(zones)} Availability Zones: {', '.join(zones)}")]


def _ips_needed(inputs: PreflightInputs) -> tuple[int, list[str], list[str]]:
    """IPs each subnet needs, the node groups counted (how), the node groups whose types are unknown."""
    types = {entry["InstanceType"]: entry for entry in inputs.instance_types}
    # A resumed cluster has its control plane's interfaces in place already.
    needed = 0 if inputs.resuming_run else load_bootstrap_facts().free_ips_per_subnet
    counted, unknown = [], []
    for nodegroup in inputs.request.compute:
        share = nodegroup_pod_ips_per_subnet(nodegroup, types, len(inputs.subnets))
        if share is None:
            unknown.append(nodegroup.name)
            continue
        nodes, pods, ips = share
        needed += ips
        counted.append(f"{nodegroup.name} {nodes} node(s) x {pods} pods")
    return needed, counted, unknown


@check("BOOT-SUBNET-FREE-IPS")
def subnets_have_free_ips(inputs: PreflightInputs) -> list[Outcome]:
    if not inputs.subnets:
        return [skipped("no subnet found (BOOT-SUBNETS-EXIST)")]
    needed, counted, unknown = _ips_needed(inputs)
    plane = 0 if inputs.resuming_run else load_bootstrap_facts().free_ips_per_subnet
    how = f"{plane} for the control plane + {', '.join(counted) or 'no node group counted'}"
    short = [s for s in inputs.subnets if s.get("AvailableIpAddressCount", 0) < needed]
    outcomes = [
        failed(
            f"subnet_ids: {_subnet_label(subnet)} has {subnet.get('AvailableIpAddressCount', 0)} free IP addresses, "
            f"needs {needed} ({how}); use a larger subnet or lower the node groups' max",
            [subnet["SubnetId"]],
        )
        for subnet in short
    ]
    if unknown:
        outcomes.append(noted(f"node group(s) {', '.join(unknown)} not counted: instance types unknown"))
    if not short:
        fewest = min(s.get("AvailableIpAddressCount", 0) for s in inputs.subnets)
        outcomes.insert(0, passed(f"each subnet needs {needed} free IP addresses ({how}); the fewest free: {fewest}"))
    return outcomes


@check("BOOT-CLUSTER-QUOTA")
def cluster_quota(inputs: PreflightInputs) -> list[Outcome]:
    after = inputs.cluster_count + (0 if inputs.existing_cluster is not None else 1)
    evidence = f"{after} of {inputs.cluster_quota} clusters in {inputs.request.region} (quota: {inputs.quota_source})"
    if after > inputs.cluster_quota:
        return [
            failed(
                f"cluster_name {inputs.cluster_name}: {inputs.cluster_count} clusters exist; one more would be "
                f"{evidence}; request an increase of L-1194D53C or delete an unused cluster"
            )
        ]
    return [passed(evidence)]


def _key_region(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""


@check("BOOT-KMS-KEY-USABLE")
def kms_key_usable(inputs: PreflightInputs) -> list[Outcome]:
    arn = inputs.request.kms_key_arn
    if not arn:
        return [skipped("no kms_key_arn: the run creates a key with rotation")]
    key = inputs.kms_key
    if key is None:
        return [failed(f"kms_key_arn {arn}: no such key (or not visible to the runbook's role)", [arn])]
    # KMS answers KeyUsage on every key; ENCRYPT_DECRYPT is CreateKey's default [KMS API CreateKey].
    problems = [
        f"{label} is {value}, EKS needs {wanted}"
        for label, value, wanted in (
            ("KeyState", key.get("KeyState"), "Enabled"),
            ("KeySpec", key.get("KeySpec", key.get("CustomerMasterKeySpec")), "SYMMETRIC_DEFAULT"),
            ("KeyUsage", key.get("KeyUsage", "ENCRYPT_DECRYPT"), "ENCRYPT_DECRYPT"),
            ("its region", _key_region(key.get("Arn", arn)), inputs.request.region),
        )
        if value != wanted
    ]
    if problems:
        return [failed(f"kms_key_arn {arn}: {'; '.join(problems)}", [arn])]
    return [passed(f"{key.get('Arn', arn)}: Enabled, SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT, {inputs.request.region}")]


def _account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""


def _trusts(role: Mapping[str, Any], service: str) -> bool:
    for statement in (role.get("AssumeRolePolicyDocument") or {}).get("Statement") or []:
        if statement.get("Effect") != "Allow":
            continue
        services = (statement.get("Principal") or {}).get("Service") or []
        if service in ([services] if isinstance(services, str) else services):
            return True
    return False


def _role_problems(arn: str, facts: RoleFacts, inputs: PreflightInputs) -> list[str]:
    if _account_of(arn) != inputs.account_id:
        return [f"is in account {_account_of(arn)}, the cluster in {inputs.account_id}"]
    role = inputs.roles.get(arn)
    if role is None:
        return ["does not exist"]
    problems = [] if _trusts(role, facts.trusted_service) else [f"does not trust {facts.trusted_service}"]
    attached = {policy.rpartition("/")[2] for policy in inputs.role_policies.get(arn, ()) if ":iam::aws:" in policy}
    missing = [policy for policy in facts.managed_policies if not attached.intersection(facts.accepted(policy))]
    if missing:
        problems.append(f"lacks the AWS managed polic{'ies' if len(missing) > 1 else 'y'} {', '.join(missing)}")
    return problems


@check("BOOT-ROLES")
def roles_are_usable(inputs: PreflightInputs) -> list[Outcome]:
    facts = load_bootstrap_facts()
    given = [
        (key, arn, role_facts)
        for key, arn, role_facts in (
            ("cluster_role_arn", inputs.request.cluster_role_arn, facts.cluster_role),
            ("node_role_arn", inputs.request.node_role_arn, facts.node_role),
        )
        if arn
    ]
    if not given:
        return [skipped("no role given: the run creates the cluster and node roles")]
    outcomes = []
    for key, arn, role_facts in given:
        problems = _role_problems(arn, role_facts, inputs)
        if problems:
            outcomes.append(failed(f"{key} {arn}: {'; '.join(problems)}", [arn]))
        else:
            policies = ", ".join(role_facts.managed_policies)
            outcomes.append(passed(f"{key} {arn} trusts {role_facts.trusted_service}, carries {policies}"))
    return outcomes


@check("BOOT-ADMINS-EXIST")
def admins_exist(inputs: PreflightInputs) -> list[Outcome]:
    arns = inputs.request.admin_principal_arns
    missing = [arn for arn in arns if inputs.principals.get(arn) is False]
    elsewhere = [arn for arn in arns if inputs.principals.get(arn) is None]
    outcomes = []
    if missing:
        outcomes.append(
            failed(f"admin_principal_arns: {listed(missing)} not found in IAM; correct the ARN or create it", missing)
        )
    if elsewhere:
        outcomes.append(noted(f"not looked up (another account than {inputs.account_id}): {listed(elsewhere)}"))
    found = [arn for arn in arns if inputs.principals.get(arn)]
    if not missing:
        outcomes.insert(0, passed(f"{len(found)} admin principal(s) found: {listed(found)}"))
    return outcomes


def _offered(inputs: PreflightInputs) -> str:
    versions = [e["clusterVersion"] for e in inputs.cluster_versions if in_standard_support(e, inputs.today)]
    return ", ".join(sorted(versions, key=minor_of)) or "none"


def _version_problem(inputs: PreflightInputs) -> str | None:
    """Why the planned version cannot be created (naming the input), or None when it is in standard support."""
    version = inputs.planned_version
    if version is None:
        return f"EKS offers no version in standard support in {inputs.request.region}"
    requested = inputs.request.kubernetes_version
    if inputs.resuming_run and requested and requested != version:
        return f"kubernetes_version {requested}: the resumed cluster runs {version}; ask for {version}"
    entry = next((e for e in inputs.cluster_versions if e.get("clusterVersion") == version), None)
    if entry is None:
        return f"kubernetes_version {version}: EKS does not offer it (standard support: {_offered(inputs)})"
    if not in_standard_support(entry, inputs.today):
        end = as_date(entry.get("endOfStandardSupportDate"))
        past = f", standard support ended {end}" if end and end < inputs.today else ""
        status = entry.get("versionStatus", "UNSUPPORTED")
        return f"kubernetes_version {version}: {status}{past}; choose one in standard support ({_offered(inputs)})"
    return None


@check("BOOT-VERSION-SUPPORTED")
def version_supported(inputs: PreflightInputs) -> list[Outcome]:
    problem = _version_problem(inputs)
    if problem:
        return [failed(problem, [inputs.planned_version] if inputs.planned_version else [])]
    version = inputs.planned_version
    entry = next(e for e in inputs.cluster_versions if e.get("clusterVersion") == version)
    end = as_date(entry.get("endOfStandardSupportDate")) or "a date EKS has not set"
    if inputs.resuming_run:
        how = "the resumed cluster's"
    else:
        how = "requested" if inputs.request.kubernetes_version else "the newest in standard support"
    return [passed(f"{version} ({how}): standard support until {end}")]


@check("BOOT-ADDON-VERSIONS")
def addon_versions(inputs: PreflightInputs) -> list[Outcome]:
    if _version_problem(inputs):
        return [skipped("no supported Kubernetes version to look add-ons up for (BOOT-VERSION-SUPPORTED)")]
    version, chosen = resolve_versions(inputs)
    missing = [name for name in inputs.request.addons if name not in chosen]
    if missing:
        return [
            failed(
                f"addons: {listed(missing)} has no version for Kubernetes {version}; remove it from addons or "
                "choose another kubernetes_version",
                missing,
            )
        ]
    return [passed(f"for {version}: {', '.join(f'{name} {v}' for name, v in chosen.items())}")]


def _architectures(instance_type: Mapping[str, Any]) -> list[str]:
    return list((instance_type.get("ProcessorInfo") or {}).get("SupportedArchitectures") or [])


@check("BOOT-INSTANCE-TYPES")
def instance_types_fit(inputs: PreflightInputs) -> list[Outcome]:
    offered = {entry["InstanceType"]: entry for entry in inputs.instance_types}
    architectures = load_bootstrap_facts().ami_architectures
    problems, objects = [], []
    for nodegroup in inputs.request.compute:
        wanted = architectures.get(nodegroup.ami_type)
        for name in nodegroup.instance_types:
            if name not in offered:
                problems.append(f"{nodegroup.name}: {name} is not offered in {inputs.request.region}")
            elif wanted and wanted not in _architectures(offered[name]):
                problems.append(
                    f"{nodegroup.name}: {name} is {'/'.join(_architectures(offered[name]))}, "
                    f"ami_type {nodegroup.ami_type} needs {wanted}"
                )
            else:
                continue
            objects.append(name)
    if problems:
        return [failed(f"compute instance_types: {'; '.join(problems)}", objects)]
    described = ", ".join(f"{name} {'/'.join(_architectures(entry))}" for name, entry in offered.items())
    return [passed(f"offered in {inputs.request.region}: {described}")]


@check("BOOT-ENDPOINT-REACHABLE")
def endpoint_reachable(inputs: PreflightInputs) -> list[Outcome]:
    vpc = next((subnet["VpcId"] for subnet in inputs.subnets), "the cluster's VPC")
    if inputs.request.endpoint is Endpoint.PRIVATE:
        return [
            noted(
                f"private endpoint: the Airflow workers must reach {vpc} (run inside it, or through peering, "
                "Transit Gateway or VPN, resolving the endpoint's private DNS name), or the access gate times out"
            )
        ]
    cidrs = ", ".join(inputs.request.public_access_cidrs)
    return [noted(f"public endpoint restricted to {cidrs}: the Airflow workers' egress addresses must be in it")]
