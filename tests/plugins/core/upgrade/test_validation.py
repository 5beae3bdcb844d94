from __future__ import annotations

from eks_runbooks.core.upgrade.validation import WorkloadState, snapshot_workloads, validate_hop

CLUSTER = {"version": "1.33", "status": "ACTIVE"}


def node(name: str, kubelet: str, ready: bool = True, nodegroup: str | None = "general") -> dict:
    labels = {"eks.amazonaws.com/nodegroup": nodegroup} if nodegroup else {}
    return {
        "metadata": {"name": name, "labels": labels},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "nodeInfo": {"kubeletVersion": kubelet},
        },
    }


def deployment(namespace: str, name: str, replicas: int, available: int) -> dict:
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"replicas": replicas},
        "status": {"availableReplicas": available, "readyReplicas": available},
    }


def daemonset(name: str, desired: int, updated: int, ready: int) -> dict:
    return {
        "metadata": {"namespace": "kube-system", "name": name},
        "status": {
            "desiredNumberScheduled": desired,
            "updatedNumberScheduled": updated,
            "numberReady": ready,
            "numberAvailable": ready,
        },
    }


COREDNS = deployment("kube-system", "coredns", 2, 2)
ADDONS = [{"addonName": "coredns", "status": "ACTIVE", "health": {"issues": []}}]
BASELINE = snapshot_workloads([deployment("payments", "ledger-api", 3, 3)], [], [])


def validate(**overrides):
    arguments = {
        "hop_version": "1.33",
        "cluster": CLUSTER,
        "nodes": [node("a", "v1.33.5-eks-1"), node("b", "v1.33.5-eks-1")],
        "addons": ADDONS,
        "workloads_now": BASELINE,
        "workloads_at_preflight": BASELINE,
        "kube_system_daemonsets": [daemonset("kube-proxy", 2, 2, 2)],
        "coredns": COREDNS,
    } | overrides
    return validate_hop(**arguments)


def test_a_finished_hop_has_no_problems():
    assert validate() == []


def test_control_plane_still_on_the_old_version_is_reported():
    assert [p.check for p in validate(cluster={"version": "1.32", "status": "UPDATING"})] == ["control-plane"]


def test_managed_node_left_on_the_old_kubelet_is_named():
    problems = validate(nodes=[node("a", "v1.33.5-eks-1"), node("old", "v1.32.9-eks-1")])
    assert [(p.check, p.objects) for p in problems] == [("nodes", ("old (general, v1.32.9-eks-1)",))]


def test_self_managed_node_on_another_version_only_needs_to_be_ready():
    assert validate(nodes=[node("a", "v1.33.5-eks-1"), node("self", "v1.31.2", nodegroup=None)]) == []
    problems = validate(nodes=[node("self", "v1.31.2", ready=False, nodegroup=None)])
    assert [(p.check, p.objects) for p in problems] == [("nodes", ("self",))]


def test_daemonset_not_rolled_out_is_reported():
    problems = validate(kube_system_daemonsets=[daemonset("aws-node", 3, 2, 3)])
    assert [(p.check, p.objects) for p in problems] == [("kube-system", ("kube-system/DaemonSet/aws-node",))]


def test_coredns_not_ready_is_reported():
    assert [p.check for p in validate(coredns=deployment("kube-system", "coredns", 2, 1))] == ["coredns"]
    assert [p.check for p in validate(coredns=None)] == ["coredns"]


def test_degraded_addon_is_reported_with_its_health_issues():
    addons = [
        {
            "addonName": "coredns",
            "status": "DEGRADED",
            "health": {"issues": [{"code": "InsufficientNumberOfReplicas", "message": "1 of 2 ready"}]},
        }
    ]
    problems = validate(addons=addons)
    assert problems[0].check == "addons" and "InsufficientNumberOfReplicas: 1 of 2 ready" in problems[0].detail


def test_workload_available_at_preflight_and_unavailable_now_is_named():
    now = snapshot_workloads([deployment("payments", "ledger-api", 3, 1)], [], [])
    problems = validate(workloads_now=now)
    assert [(p.check, p.objects) for p in problems] == [("workloads", ("payments/Deployment/ledger-api",))]


def test_workload_already_unavailable_at_preflight_is_not_blamed_on_the_upgrade():
    before = snapshot_workloads([deployment("batch", "flaky", 2, 0)], [], [])
    assert validate(workloads_at_preflight=before, workloads_now=before) == []


def test_snapshot_reads_deployments_statefulsets_and_daemonsets():
    statefulset = {
        "metadata": {"namespace": "db", "name": "pg"},
        "spec": {"replicas": 3},
        "status": {"readyReplicas": 2},
    }
    snapshot = snapshot_workloads([deployment("a", "web", 2, 2)], [statefulset], [daemonset("kube-proxy", 4, 4, 4)])
    assert snapshot == {
        "a/Deployment/web": WorkloadState(2, 2),
        "db/StatefulSet/pg": WorkloadState(3, 2),
        "kube-system/DaemonSet/kube-proxy": WorkloadState(4, 4),
    }


def test_a_rollout_still_under_way_is_worth_waiting_for_a_wrong_control_plane_is_not():
    from eks_runbooks.core.upgrade.validation import still_converging

    rolling = validate(kube_system_daemonsets=[daemonset("kube-proxy", 4, 1, 3)])
    assert [p.check for p in rolling] == ["kube-system"] and still_converging(rolling)
    wrong_version = validate(cluster={"version": "1.32", "status": "ACTIVE"})
    assert not still_converging(wrong_version)
    assert not still_converging([])


def test_the_convergence_wait_grows_with_the_node_count_and_never_drops_below_a_floor():
    from eks_runbooks.core.upgrade.validation import MIN_CONVERGENCE, convergence_timeout

    assert convergence_timeout(0) == convergence_timeout(1) == MIN_CONVERGENCE
    assert convergence_timeout(200) == 2 * convergence_timeout(100) > MIN_CONVERGENCE
