from __future__ import annotations

import pytest

from eks_runbooks.core.upgrade.plan import (
    AddonRules,
    AddonStep,
    AddonVersionPolicy,
    Hop,
    UpgradePlanError,
    load_addon_rules,
    plan_addon_steps,
    plan_addon_steps_for_hops,
    plan_upgrade_path,
)


def calendar(*supported: str, unsupported: tuple[str, ...] = ()) -> list[dict]:
    return [{"clusterVersion": v, "versionStatus": "STANDARD_SUPPORT"} for v in supported] + [
        {"clusterVersion": v, "versionStatus": "UNSUPPORTED"} for v in unsupported
    ]


RULES = AddonRules(
    one_minor_at_a_time=frozenset({"vpc-cni"}),
    after_nodegroups=frozenset({"kube-proxy"}),
    update_order=("vpc-cni", "eks-pod-identity-agent", "coredns"),
)


def addon(name: str, *versions: tuple[str, list[str], list[str]]) -> dict:
    """(version, compatible cluster versions, cluster versions it is the default for)."""
    return {
        "addonName": name,
        "addonVersions": [
            {
                "addonVersion": version,
                "compatibilities": [{"clusterVersion": cv, "defaultVersion": cv in defaults} for cv in clusters],
            }
            for version, clusters, defaults in versions
        ],
    }


def test_three_minor_versions_are_three_hops_in_order():
    path = plan_upgrade_path("payments", "1.29", "1.32", calendar("1.29", "1.30", "1.31", "1.32", "1.33"))
    assert path.hops == (Hop("1.29", "1.30"), Hop("1.30", "1.31"), Hop("1.31", "1.32"))


def test_target_equal_to_current_has_nothing_to_do():
    path = plan_upgrade_path("payments", "1.32", "1.32", calendar("1.32"))
    assert path.nothing_to_do and path.hops == ()


def test_downgrade_is_refused_naming_the_cluster_and_the_rollback_rule():
    with pytest.raises(UpgradePlanError, match=r"payments runs 1\.32; 1\.31 would be a downgrade.*7 days"):
        plan_upgrade_path("payments", "1.32", "1.31", calendar("1.31", "1.32"))


@pytest.mark.parametrize("target", ["1.3x", "v1.32", "2.0", "", "1.32.1"])
def test_malformed_target_is_refused_with_the_expected_shape(target):
    with pytest.raises(UpgradePlanError, match=r"give it as 1\.NN"):
        plan_upgrade_path("payments", "1.31", target, calendar("1.31", "1.32"))


def test_a_hop_to_a_version_eks_does_not_offer_is_refused_listing_what_is_offered():
    with pytest.raises(UpgradePlanError, match=r"does not offer Kubernetes 1\.37.*offers 1\.35, 1\.36"):
        plan_upgrade_path("payments", "1.35", "1.37", calendar("1.35", "1.36"))


def test_unsupported_versions_do_not_count_as_offered():
    with pytest.raises(UpgradePlanError, match=r"1\.29"):
        plan_upgrade_path("legacy", "1.28", "1.29", calendar("1.30", unsupported=("1.28", "1.29")))


def test_addons_move_to_the_default_version_of_the_hop():
    catalogue = [
        addon(
            "coredns",
            ("v1.11.4-eksbuild.22", ["1.31", "1.32"], []),
            ("v1.11.4-eksbuild.40", ["1.31", "1.32"], ["1.32"]),
            ("v1.12.4-eksbuild.18", ["1.32", "1.33"], []),
        )
    ]
    steps = plan_addon_steps("c", {"coredns": "v1.11.4-eksbuild.22"}, "1.32", catalogue, RULES)
    assert steps == [AddonStep("coredns", "v1.11.4-eksbuild.22", "v1.11.4-eksbuild.40", after_nodegroups=False)]


def test_latest_policy_takes_the_newest_compatible_version():
    catalogue = [addon("coredns", ("v1.11.4-eksbuild.40", ["1.32"], ["1.32"]), ("v1.12.4-eksbuild.18", ["1.32"], []))]
    steps = plan_addon_steps(
        "c", {"coredns": "v1.11.4-eksbuild.40"}, "1.32", catalogue, RULES, AddonVersionPolicy.LATEST
    )
    assert [step.to_version for step in steps] == ["v1.12.4-eksbuild.18"]


def test_addon_already_at_or_past_the_target_is_left_alone():
    catalogue = [addon("coredns", ("v1.11.4-eksbuild.40", ["1.32"], ["1.32"]), ("v1.12.4-eksbuild.18", ["1.32"], []))]
    assert plan_addon_steps("c", {"coredns": "v1.12.4-eksbuild.18"}, "1.32", catalogue, RULES) == []


def test_vpc_cni_passes_through_every_intermediate_minor():
    catalogue = [
        addon(
            "vpc-cni",
            ("v1.18.6-eksbuild.1", ["1.32"], []),
            ("v1.19.2-eksbuild.1", ["1.32"], []),
            ("v1.19.6-eksbuild.7", ["1.32"], []),
            ("v1.20.1-eksbuild.3", ["1.32"], ["1.32"]),
        )
    ]
    steps = plan_addon_steps("c", {"vpc-cni": "v1.18.6-eksbuild.1"}, "1.32", catalogue, RULES)
    assert [(step.from_version, step.to_version) for step in steps] == [
        ("v1.18.6-eksbuild.1", "v1.19.6-eksbuild.7"),
        ("v1.19.6-eksbuild.7", "v1.20.1-eksbuild.3"),
    ]


def test_one_minor_rule_without_an_intermediate_version_is_refused():
    catalogue = [addon("vpc-cni", ("v1.18.6-eksbuild.1", ["1.32"], []), ("v1.20.1-eksbuild.3", ["1.32"], ["1.32"]))]
    with pytest.raises(UpgradePlanError, match="one minor version at a time"):
        plan_addon_steps("c", {"vpc-cni": "v1.18.6-eksbuild.1"}, "1.32", catalogue, RULES)


def test_addon_without_a_compatible_version_blocks_the_hop():
    catalogue = [addon("aws-ebs-csi-driver", ("v1.37.0-eksbuild.1", ["1.31"], ["1.31"]))]
    with pytest.raises(UpgradePlanError, match="no version of add-on aws-ebs-csi-driver is compatible with"):
        plan_addon_steps("c", {"aws-ebs-csi-driver": "v1.37.0-eksbuild.1"}, "1.32", catalogue, RULES)


def test_kube_proxy_comes_last_and_waits_for_the_node_groups():
    catalogue = [
        addon("kube-proxy", ("v1.32.13-eksbuild.5", ["1.32"], ["1.32"])),
        addon("coredns", ("v1.11.4-eksbuild.40", ["1.32"], ["1.32"])),
        addon("vpc-cni", ("v1.20.1-eksbuild.3", ["1.32"], ["1.32"])),
    ]
    installed = {"kube-proxy": "v1.31.14-eksbuild.9", "coredns": "v1.11.4-eksbuild.22", "vpc-cni": "v1.20.0-eksbuild.1"}
    steps = plan_addon_steps("c", installed, "1.32", catalogue, RULES)
    assert [step.addon_name for step in steps] == ["vpc-cni", "coredns", "kube-proxy"]
    assert [step.after_nodegroups for step in steps] == [False, False, True]


def test_addon_rules_come_from_the_addon_catalogue_data():
    rules = load_addon_rules()
    assert {"vpc-cni", "eks-pod-identity-agent"} <= rules.one_minor_at_a_time
    assert "coredns" not in rules.one_minor_at_a_time
    assert rules.after_nodegroups == frozenset({"kube-proxy"})


def test_a_node_group_behind_the_control_plane_reopens_the_hop_that_left_it_behind():
    path = plan_upgrade_path("payments", "1.33", "1.34", calendar("1.32", "1.33", "1.34"), ["1.33", "1.32"])
    assert path.hops == (Hop("1.32", "1.33"), Hop("1.33", "1.34"))


def test_target_reached_with_a_lagging_node_group_still_finishes_the_last_hop():
    path = plan_upgrade_path("payments", "1.33", "1.33", calendar("1.32", "1.33"), ["1.32"])
    assert path.hops == (Hop("1.32", "1.33"),) and not path.nothing_to_do


def test_node_groups_at_the_control_plane_version_add_no_hop():
    path = plan_upgrade_path("payments", "1.33", "1.34", calendar("1.33", "1.34"), ["1.33", "1.33"])
    assert path.hops == (Hop("1.33", "1.34"),)


def test_each_hop_of_the_plan_starts_from_the_addon_versions_the_previous_hop_leaves():
    catalogue = {
        "1.33": [addon("coredns", ("v1.11.0", ["1.32", "1.33"], ["1.32"]), ("v1.12.0", ["1.33", "1.34"], ["1.33"]))],
        "1.34": [addon("coredns", ("v1.12.0", ["1.33", "1.34"], []), ("v1.13.0", ["1.34"], ["1.34"]))],
    }
    steps = plan_addon_steps_for_hops(
        "payments", {"coredns": "v1.11.0"}, [Hop("1.32", "1.33"), Hop("1.33", "1.34")], catalogue, RULES
    )
    assert [(s.from_version, s.to_version) for s in steps["1.33"]] == [("v1.11.0", "v1.12.0")]
    assert [(s.from_version, s.to_version) for s in steps["1.34"]] == [("v1.12.0", "v1.13.0")]


def test_the_add_on_order_comes_from_the_catalogue():
    from eks_runbooks.core.upgrade.plan import load_addon_rules

    assert load_addon_rules().update_order == RULES.update_order


def supported(version: str, released: str, unsupported_from: str) -> dict:
    """One entry of include/eks/kubernetes-versions.yaml (dates as YAML reads them)."""
    from datetime import date

    return {
        "version": version,
        "eks_release": date.fromisoformat(released),
        "end_of_extended_support": date.fromisoformat(unsupported_from),
    }


def test_hop_groups_are_sized_from_the_busiest_day_of_the_whole_calendar_plus_a_lagging_node_group():
    from eks_runbooks.core.upgrade.plan import hop_groups_needed, most_versions_supported_on_one_day

    calendar = [
        supported("1.40", "2030-01-01", "2032-03-01"),
        supported("1.41", "2031-01-01", "2033-01-01"),
        supported("1.42", "2032-01-01", "2034-01-01"),  # 2032-01-01 … 2032-02-29: 1.40, 1.41, 1.42
        supported("1.43", "2033-06-01", "2035-06-01"),
    ]
    assert most_versions_supported_on_one_day(calendar) == 3
    # oldest → newest of those three is two hops; a node group one minor behind adds one.
    assert hop_groups_needed(calendar) == 3
    # The day a version leaves support it no longer counts: 1.40 ends the day 1.42 would have made it four.
    assert most_versions_supported_on_one_day([*calendar, supported("1.39", "2029-01-01", "2032-01-01")]) == 3


def test_hop_groups_of_the_calendar_in_include_cover_its_busiest_day_counted_day_by_day():
    from datetime import timedelta

    from eks_runbooks.core.upgrade.plan import hop_groups_needed, load_version_calendar

    calendar = load_version_calendar()
    day, last = min(v["eks_release"] for v in calendar), max(v["end_of_extended_support"] for v in calendar)
    busiest = 0
    while day < last:
        busiest = max(busiest, sum(v["eks_release"] <= day < v["end_of_extended_support"] for v in calendar))
        day += timedelta(days=1)
    assert hop_groups_needed(calendar) == busiest


def test_a_plan_longer_than_the_dag_can_run_is_refused_naming_the_limit_and_an_intermediate_target():
    from eks_runbooks.core.upgrade.plan import refuse_plan_longer_than

    path = plan_upgrade_path("payments", "1.30", "1.34", calendar("1.30", "1.31", "1.32", "1.33", "1.34"), ["1.29"])
    assert len(path.hops) == 5
    refuse_plan_longer_than(path, 5)
    with pytest.raises(UpgradePlanError) as refused:
        refuse_plan_longer_than(path, 3)
    message = str(refused.value)
    assert message.startswith("Cluster payments: upgrading 1.30 → 1.34 takes 5 hops")
    assert "a node group behind the control plane adds one" in message
    assert "this runbook runs at most 3" in message
    assert "target_version 1.32 first" in message
