"""Prices, the Amazon Linux 2 cut-off and system namespaces come from include/, each entry with its source."""

from __future__ import annotations

import yaml

from eks_runbooks.core.eks.rules import control_plane_prices, max_pods_rules, node_ami_rules
from eks_runbooks.core.kubernetes.namespaces import system_namespaces
from tests.helpers import REPO


def test_a_month_of_extended_support_costs_365_dollars_more():
    prices = control_plane_prices()
    assert (prices.standard_per_hour, prices.extended_per_hour, prices.hours_per_month) == (0.10, 0.60, 730)
    assert round(prices.extended_extra_per_month, 2) == 365.0


def test_amazon_linux_2_ends_at_1_32_for_every_al2_ami_type():
    rules = node_ami_rules()
    assert rules.last_al2_version == "1.32"
    assert rules.al2_ami_types == {"AL2_x86_64", "AL2_x86_64_GPU", "AL2_ARM_64"}


def test_system_namespaces_are_the_ones_kubernetes_creates():
    assert system_namespaces() == {"kube-system", "kube-public", "kube-node-lease"}


def test_every_entry_names_its_source():
    pricing = yaml.safe_load((REPO / "include/eks/pricing.yaml").read_text())
    amis = yaml.safe_load((REPO / "include/eks/node-amis.yaml").read_text())
    namespaces = yaml.safe_load((REPO / "include/kubernetes/system-namespaces.yaml").read_text())
    sources = [
        pricing["control_plane_per_hour"]["source"],
        pricing["hours_per_month"]["source"],
        amis["amazon_linux_2"]["ami_types_source"],
        amis["amazon_linux_2"]["last_kubernetes_version_source"],
        amis["release_max_age_days"]["source"],
        namespaces["source"],
    ]
    assert all(isinstance(source, str) and len(source) > 20 for source in sources)


def test_prefix_delegation_multiplies_each_eni_slot_by_16_under_the_same_vcpu_caps():
    rules = max_pods_rules()
    assert rules.max_pods(3, 6, 2) == 17  # t3.medium: 3 x (6 - 1) + 2
    assert rules.max_pods(3, 6, 2, prefixes=True) == 110  # 3 x 5 x 16 + 2 = 242, capped at 110 (2 vCPUs)
    assert rules.max_pods(15, 50, 96, prefixes=True) == 250  # over 30 vCPUs the cap is 250
    assert rules.max_pods(8, 30, 30, prefixes=True) == 110  # max-pods-calculator.sh: 250 only above 30 vCPUs
    assert rules.allows_prefixes("nitro") and not rules.allows_prefixes("xen")


def test_max_pods_entries_name_their_source():
    document = yaml.safe_load((REPO / "include/eks/max-pods.yaml").read_text())
    assert all(len(section["source"]) > 20 for section in document.values())


def test_an_update_reference_travels_as_json_and_names_its_target():
    from eks_runbooks.core.eks.updates import UpdateRef

    ref = UpdateRef("u-1", nodegroup_name="general")
    assert UpdateRef.from_dict(ref.to_dict()) == ref and ref.to_dict() == {
        "update_id": "u-1",
        "nodegroup_name": "general",
    }
    assert (ref.target, UpdateRef("u-2", addon_name="coredns").target, UpdateRef("u-3").target) == (
        "node group general",
        "add-on coredns",
        "control plane",
    )
