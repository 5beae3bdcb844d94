from __future__ import annotations

import base64
import textwrap
from pathlib import Path

import pytest
import yaml

from eks_runbooks.core.include import DEFAULT_INCLUDE_DIR
from eks_runbooks.core.kubernetes.deprecations import (
    DeprecatedObject,
    RemovedApi,
    find_removed_api_clients,
    find_removed_apis,
    load_api_removals,
    removals_in,
    render_findings_markdown,
    unreadable_helm_releases,
)
from tests.plugins.core.kubernetes.helm_storage import helm_configmap, helm_secret, k8s_object, with_last_applied

REMOVALS = load_api_removals()
SANDBOX_CATALOGUE = DEFAULT_INCLUDE_DIR.parent / "sandbox" / "eks_sandbox" / "kube" / "api-resources.yaml"

FS_V1BETA3 = "flowcontrol.apiserver.k8s.io/v1beta3"


def removal(api_version: str, kind: str) -> RemovedApi:
    return next(entry for entry in REMOVALS if (entry.api_version, entry.kind) == (api_version, kind))


def flowschema(name: str = "ledger-priority", api_version: str = FS_V1BETA3, **extra) -> dict:
    return k8s_object(api_version, "FlowSchema", name, **extra)


def scan(target: str, **sources) -> list[DeprecatedObject]:
    return find_removed_apis(target, removals=REMOVALS, **sources)


# --- the removal data ---------------------------------------------------------------------------------------


def test_removal_data_has_a_source_for_every_entry():
    assert REMOVALS
    for entry in REMOVALS:
        assert entry.source.strip(), entry
        assert entry.source.startswith(
            ("kubernetes/api v0.", "kubernetes/apiextensions-apiserver v0.", "kubernetes/kube-aggregator v0.")
        ), entry
        assert "zz_generated.prerelease-lifecycle.go" in entry.source, entry


# Every row of the removal table in peers.md, plus the 1.22 removals the upgrade runbook must still see.
EXPECTED_REMOVALS = [
    ("batch/v1beta1", "CronJob", "1.25", "batch/v1"),
    ("discovery.k8s.io/v1beta1", "EndpointSlice", "1.25", "discovery.k8s.io/v1"),
    ("events.k8s.io/v1beta1", "Event", "1.25", "events.k8s.io/v1"),
    ("autoscaling/v2beta1", "HorizontalPodAutoscaler", "1.25", "autoscaling/v2"),
    ("policy/v1beta1", "PodDisruptionBudget", "1.25", "policy/v1"),
    ("policy/v1beta1", "PodSecurityPolicy", "1.25", None),
    ("node.k8s.io/v1beta1", "RuntimeClass", "1.25", "node.k8s.io/v1"),
    ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema", "1.26", "flowcontrol.apiserver.k8s.io/v1beta2"),
    (
        "flowcontrol.apiserver.k8s.io/v1beta1",
        "PriorityLevelConfiguration",
        "1.26",
        "flowcontrol.apiserver.k8s.io/v1beta2",
    ),
    ("autoscaling/v2beta2", "HorizontalPodAutoscaler", "1.26", "autoscaling/v2"),
    ("storage.k8s.io/v1beta1", "CSIStorageCapacity", "1.27", "storage.k8s.io/v1"),
    ("flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema", "1.29", "flowcontrol.apiserver.k8s.io/v1beta3"),
    (
        "flowcontrol.apiserver.k8s.io/v1beta2",
        "PriorityLevelConfiguration",
        "1.29",
        "flowcontrol.apiserver.k8s.io/v1beta3",
    ),
    ("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", "1.32", "flowcontrol.apiserver.k8s.io/v1"),
    ("flowcontrol.apiserver.k8s.io/v1beta3", "PriorityLevelConfiguration", "1.32", "flowcontrol.apiserver.k8s.io/v1"),
    ("admissionregistration.k8s.io/v1alpha1", "ValidatingAdmissionPolicy", "1.32", "admissionregistration.k8s.io/v1"),
    (
        "admissionregistration.k8s.io/v1alpha1",
        "ValidatingAdmissionPolicyBinding",
        "1.32",
        "admissionregistration.k8s.io/v1",
    ),
    ("extensions/v1beta1", "Ingress", "1.22", "networking.k8s.io/v1"),
    ("networking.k8s.io/v1beta1", "Ingress", "1.22", "networking.k8s.io/v1"),
    ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition", "1.22", "apiextensions.k8s.io/v1"),
    ("admissionregistration.k8s.io/v1beta1", "MutatingWebhookConfiguration", "1.22", "admissionregistration.k8s.io/v1"),
    (
        "admissionregistration.k8s.io/v1beta1",
        "ValidatingWebhookConfiguration",
        "1.22",
        "admissionregistration.k8s.io/v1",
    ),
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRole", "1.22", "rbac.authorization.k8s.io/v1"),
    ("rbac.authorization.k8s.io/v1beta1", "RoleBinding", "1.22", "rbac.authorization.k8s.io/v1"),
    ("certificates.k8s.io/v1beta1", "CertificateSigningRequest", "1.22", "certificates.k8s.io/v1"),
    ("coordination.k8s.io/v1beta1", "Lease", "1.22", "coordination.k8s.io/v1"),
    ("apiregistration.k8s.io/v1beta1", "APIService", "1.22", "apiregistration.k8s.io/v1"),
    ("authentication.k8s.io/v1beta1", "TokenReview", "1.22", "authentication.k8s.io/v1"),
    ("authorization.k8s.io/v1beta1", "SubjectAccessReview", "1.22", "authorization.k8s.io/v1"),
    ("scheduling.k8s.io/v1beta1", "PriorityClass", "1.22", "scheduling.k8s.io/v1"),
    ("storage.k8s.io/v1beta1", "CSIDriver", "1.22", "storage.k8s.io/v1"),
    ("storage.k8s.io/v1beta1", "CSINode", "1.22", "storage.k8s.io/v1"),
    ("storage.k8s.io/v1beta1", "StorageClass", "1.22", "storage.k8s.io/v1"),
    ("storage.k8s.io/v1beta1", "VolumeAttachment", "1.22", "storage.k8s.io/v1"),
]


@pytest.mark.parametrize(("api_version", "kind", "removed_in", "replacement"), EXPECTED_REMOVALS)
def test_removal_data_has_the_upstream_release_and_replacement(api_version, kind, removed_in, replacement):
    entry = removal(api_version, kind)
    assert (entry.removed_in, entry.replacement) == (removed_in, replacement)


def test_flowcontrol_v1beta1_is_removed_in_1_26_not_1_29_as_pluto_says():
    assert removal("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema").removed_in == "1.26"
    lost_in_1_29 = {(entry.api_version, entry.kind) for entry in removals_in("1.29", REMOVALS)}
    assert ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema") not in lost_in_1_29


def test_podsecuritypolicy_has_no_replacement_and_points_to_pod_security_admission():
    entry = removal("policy/v1beta1", "PodSecurityPolicy")
    assert entry.replacement is None and "Pod Security Admission" in entry.note


def test_every_entry_is_deprecated_before_it_is_removed_and_states_its_scope():
    for entry in REMOVALS:
        assert entry.deprecated_in is None or float(entry.deprecated_in) < float(entry.removed_in), entry
        assert isinstance(entry.namespaced, bool)
    assert removal("networking.k8s.io/v1beta1", "Ingress").namespaced
    assert not removal("rbac.authorization.k8s.io/v1beta1", "ClusterRole").namespaced


@pytest.mark.skipif(not SANDBOX_CATALOGUE.exists(), reason="the simulator's catalogue is not in this checkout")
def test_removal_releases_agree_with_the_simulators_independent_serving_catalogue():
    """Two catalogues written apart from the same guide: where both know an apiVersion, they must agree."""
    catalogue = yaml.safe_load(SANDBOX_CATALOGUE.read_text())
    compared = 0
    for resource in catalogue["resources"]:
        for version in resource["versions"]:
            if "served_until" not in version:
                continue
            api_version = f"{resource['group']}/{version['version']}" if resource["group"] else version["version"]
            entry = removal(api_version, resource["kind"])
            assert float(entry.removed_in) == pytest.approx(float(version["served_until"]) + 0.01), entry
            compared += 1
    assert compared >= 8


def write_removals(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "api-removals.yaml"
    path.write_text(textwrap.dedent(body))
    return path


GOOD_ENTRY = """\
    removals:
      - api_version: batch/v1beta1
        kind: CronJob
        namespaced: true
        deprecated_in: "1.21"
        removed_in: "1.25"
        replacement: batch/v1
        note: null
        source: kubernetes.io/docs/reference/using-api/deprecation-guide/#cronjob-v125
"""


def test_removal_data_is_read_from_an_override_path(tmp_path):
    assert load_api_removals(write_removals(tmp_path, GOOD_ENTRY)) == (
        RemovedApi(
            api_version="batch/v1beta1",
            kind="CronJob",
            namespaced=True,
            deprecated_in="1.21",
            removed_in="1.25",
            replacement="batch/v1",
            note=None,
            source="kubernetes.io/docs/reference/using-api/deprecation-guide/#cronjob-v125",
        ),
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda body: body.replace("source: kubernetes.io", "origin: kubernetes.io"), "missing source"),
        (lambda body: body.replace('removed_in: "1.25"', 'removed_in: "v1.25"'), "not a Kubernetes 1.NN"),
        (lambda body: body.replace('deprecated_in: "1.21"', 'deprecated_in: "1.26"'), "not before removed_in"),
        (lambda body: body.replace("replacement: batch/v1", "replacement: null"), "needs a note"),
        (lambda body: body.replace("namespaced: true", "namespaced: yes please"), "namespaced must be"),
        (lambda body: body.replace("api_version: batch/v1beta1", "api_version: v1beta1"), "group/version"),
        (lambda body: body + body.split("removals:\n", 1)[1], "listed twice"),
        (lambda body: "removals: []\n", "non-empty 'removals' list"),
    ],
    ids=[
        "no source",
        "malformed release",
        "deprecated after removal",
        "no replacement, no note",
        "scope",
        "no group",
        "duplicate",
        "empty",
    ],
)
def test_malformed_removal_data_is_refused_naming_the_entry(tmp_path, change, message):
    with pytest.raises(ValueError, match=message) as raised:
        load_api_removals(write_removals(tmp_path, change(textwrap.dedent(GOOD_ENTRY))))
    assert "api-removals.yaml" in str(raised.value)


# --- removals_in --------------------------------------------------------------------------------------------


def test_1_32_removes_only_the_flowcontrol_v1beta3_kinds_among_beta_apis():
    assert [(entry.api_version, entry.kind) for entry in removals_in("1.32", REMOVALS) if entry.stage != "alpha"] == [
        (FS_V1BETA3, "FlowSchema"),
        (FS_V1BETA3, "PriorityLevelConfiguration"),
    ]


def test_nothing_is_removed_in_1_33_for_stable_apis():
    lost = removals_in("1.33", REMOVALS)
    assert lost and "stable" not in {entry.stage for entry in lost}


@pytest.mark.parametrize("version", ["1.24", "1.35"])
def test_minor_versions_whose_lifecycle_data_removes_only_alpha_kinds(version):
    lost = removals_in(version, REMOVALS)
    assert lost and {entry.stage for entry in lost} == {"alpha"}


@pytest.mark.parametrize("version", ["1.23", "1.28", "1.30", "1.31", "1.36"])
def test_minor_versions_whose_lifecycle_data_removes_nothing_remove_nothing(version):
    assert removals_in(version, REMOVALS) == []


@pytest.mark.parametrize("version", ["1.3x", "v1.32", "1.32.0", ""])
def test_malformed_version_is_refused(version):
    with pytest.raises(ValueError, match=r"1\.NN"):
        removals_in(version, REMOVALS)


# --- find_removed_apis: Helm --------------------------------------------------------------------------------


def test_flowschema_v1beta3_in_latest_helm_revision_is_found_for_1_32():
    [finding] = scan("1.32", helm_secrets=[helm_secret("ledger", 3, flowschema())])
    assert finding == DeprecatedObject(
        api_version=FS_V1BETA3,
        kind="FlowSchema",
        namespace=None,
        name="ledger-priority",
        removed_in="1.32",
        replacement="flowcontrol.apiserver.k8s.io/v1",
        sources=("helm:ledger@3",),
    )
    assert finding.source == "helm:ledger@3"


def test_flowschema_v1beta3_in_helm_release_is_not_reported_while_1_31_still_serves_it():
    assert scan("1.31", helm_secrets=[helm_secret("ledger", 3, flowschema())]) == []


def test_superseded_helm_revision_is_not_reported():
    secrets = [
        helm_secret("ledger", 1, flowschema(), status="superseded"),
        helm_secret("ledger", 2, flowschema(api_version="flowcontrol.apiserver.k8s.io/v1")),
    ]
    assert scan("1.32", helm_secrets=secrets) == []


def test_failed_upgrade_revision_is_not_reported_and_the_deployed_one_is():
    secrets = [
        helm_secret("ledger", 2, flowschema("old-name")),
        helm_secret("ledger", 3, flowschema("new-name"), status="failed"),
    ]
    assert [(f.name, f.source) for f in scan("1.32", helm_secrets=secrets)] == [("old-name", "helm:ledger@2")]


def test_helm_configmap_storage_is_scanned_like_secrets():
    [finding] = scan("1.32", helm_configmaps=[helm_configmap("ledger", 7, flowschema())])
    assert finding.sources == ("helm:ledger@7",)


def test_namespaced_helm_object_without_namespace_lives_in_the_release_namespace():
    cronjob = k8s_object("batch/v1beta1", "CronJob", "nightly-settlement")
    [finding] = scan("1.25", helm_secrets=[helm_secret("ledger", 1, cronjob, namespace="payments")])
    assert (finding.namespace, finding.name) == ("payments", "nightly-settlement")


def test_namespaced_helm_object_keeps_the_namespace_the_chart_renders():
    pdb = k8s_object("policy/v1beta1", "PodDisruptionBudget", "ledger", "ledger-db")
    [finding] = scan("1.25", helm_secrets=[helm_secret("ledger", 1, pdb, namespace="payments")])
    assert finding.namespace == "ledger-db"


def test_cluster_scoped_object_has_no_namespace_even_when_the_chart_renders_one():
    psp = k8s_object("policy/v1beta1", "PodSecurityPolicy", "restricted", "payments")
    [finding] = scan("1.25", helm_secrets=[helm_secret("ledger", 1, psp)])
    assert finding.namespace is None and finding.replacement is None and "Pod Security Admission" in finding.note


def test_objects_on_served_apiversions_are_not_reported():
    objects = [flowschema(api_version="flowcontrol.apiserver.k8s.io/v1"), k8s_object("apps/v1", "Deployment", "x")]
    assert scan("1.36", helm_secrets=[helm_secret("ledger", 1, *objects)], live_objects=objects) == []


def test_corrupt_helm_release_is_skipped_not_raised():
    broken = helm_secret("broken", 1)
    broken["data"]["release"] = base64.b64encode(b"not a helm release").decode()
    findings = scan("1.32", helm_secrets=[broken, helm_secret("ledger", 1, flowschema())])
    assert [f.source for f in findings] == ["helm:ledger@1"]
    assert unreadable_helm_releases(helm_secrets=[broken, helm_secret("ledger", 1)]) == [
        "Secret payments/sh.helm.release.v1.broken.v1"
    ]


def test_unrelated_secrets_and_configmaps_are_neither_scanned_nor_reported_unreadable():
    opaque = {"type": "Opaque", "metadata": {"name": "db-password", "namespace": "payments"}, "data": {"p": "eA=="}}
    settings = {"kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "payments"}, "data": {}}
    assert scan("1.32", helm_secrets=[opaque], helm_configmaps=[settings]) == []
    assert unreadable_helm_releases(helm_secrets=[opaque], helm_configmaps=[settings]) == []


def test_helm_manifest_naming_an_apiversion_removed_before_the_target_is_reported_by_default():
    # Such a release fails its next `helm upgrade` even though the live object was converted long ago.
    pdb = k8s_object("policy/v1beta1", "PodDisruptionBudget", "ledger")
    [finding] = scan("1.30", helm_secrets=[helm_secret("ledger", 1, pdb)])
    assert finding.removed_in == "1.25"


def test_current_version_limits_findings_to_what_the_upgrade_itself_removes():
    pdb = k8s_object("policy/v1beta1", "PodDisruptionBudget", "ledger")
    secrets = [helm_secret("ledger", 1, pdb, flowschema())]
    findings = find_removed_apis("1.32", current_version="1.29", helm_secrets=secrets, removals=REMOVALS)
    assert [(f.kind, f.removed_in) for f in findings] == [("FlowSchema", "1.32")]


# --- find_removed_apis: last-applied and live ---------------------------------------------------------------


def test_last_applied_apiversion_removed_in_the_target_is_reported_with_a_caveat():
    live = with_last_applied(flowschema(api_version="flowcontrol.apiserver.k8s.io/v1"), flowschema())
    [finding] = scan("1.32", live_objects=[live])
    assert finding.api_version == FS_V1BETA3 and finding.sources == ("last-applied",)
    assert "last `kubectl apply`" in finding.note


def test_last_applied_apiversion_removed_before_the_target_is_not_reported():
    # pluto#495: the object was converted when its apiVersion went away; only the annotation is old.
    ingress = k8s_object("networking.k8s.io/v1", "Ingress", "web", "shop")
    live = with_last_applied(ingress, k8s_object("extensions/v1beta1", "Ingress", "web", "shop"))
    assert scan("1.32", live_objects=[live]) == []


def test_last_applied_namespace_defaults_to_the_live_objects():
    cronjob = k8s_object("batch/v1", "CronJob", "nightly", "payments")
    live = with_last_applied(
        cronjob, {"apiVersion": "batch/v1beta1", "kind": "CronJob", "metadata": {"name": "nightly"}}
    )
    [finding] = scan("1.25", live_objects=[live])
    assert (finding.namespace, finding.name, finding.source) == ("payments", "nightly", "last-applied")


@pytest.mark.parametrize("annotation", ["{not json", "[1, 2]", '"text"', ""])
def test_corrupt_last_applied_annotation_is_ignored(annotation):
    live = with_last_applied(flowschema(api_version="flowcontrol.apiserver.k8s.io/v1"), annotation)
    assert scan("1.32", live_objects=[live]) == []


def test_an_object_only_served_through_the_removed_apiversion_is_informational_not_in_use():
    [finding] = scan("1.32", live_objects=[flowschema("tenant-a")])
    assert finding.sources == ("live",) and not finding.in_use
    assert finding.note.startswith("Informational") and finding.as_dict()["in_use"] is False


def wrote(manager: str, api_version: str, **entry) -> dict:
    return {"manager": manager, "operation": "Update", "apiVersion": api_version, "fieldsType": "FieldsV1", **entry}


def test_a_managed_fields_entry_through_the_removed_apiversion_is_evidence_naming_its_manager():
    obj = flowschema("tenant-a", metadata={"name": "tenant-a", "managedFields": [wrote("terraform", FS_V1BETA3)]})
    [finding] = scan("1.32", live_objects=[obj])
    assert finding.sources == ("managedFields:terraform", "live") and finding.in_use
    assert "field manager wrote this object through the removed apiVersion" in finding.note
    assert "Informational" not in finding.note


def test_a_flowschema_created_as_v1_is_not_in_use_though_v1beta3_serves_it():
    entries = [wrote("kubectl-client-side-apply", "flowcontrol.apiserver.k8s.io/v1")]
    [finding] = scan(
        "1.32", live_objects=[flowschema("tenant-a", metadata={"name": "tenant-a", "managedFields": entries})]
    )
    assert finding.sources == ("live",) and not finding.in_use


def test_managed_fields_count_on_an_object_read_through_another_version():
    obj = flowschema(api_version="flowcontrol.apiserver.k8s.io/v1", metadata={"name": "tenant-a"})
    obj["metadata"]["managedFields"] = [wrote("helm", FS_V1BETA3)]
    [finding] = scan("1.32", current_version="1.31", live_objects=[obj])
    assert (finding.api_version, finding.sources, finding.in_use) == (FS_V1BETA3, ("managedFields:helm",), True)


@pytest.mark.parametrize(
    "entry",
    [
        wrote("kube-apiserver", FS_V1BETA3),
        wrote("kube-controller-manager", FS_V1BETA3),
        wrote("api-priority-and-fairness-config-producer-v1", FS_V1BETA3),
        wrote("operator", FS_V1BETA3, subresource="status"),
    ],
    ids=["apiserver", "controller-manager", "apf-producer", "status"],
)
def test_control_plane_writes_are_not_evidence_of_use(entry):
    obj = flowschema(api_version="flowcontrol.apiserver.k8s.io/v1", metadata={"name": "t", "managedFields": [entry]})
    assert scan("1.32", live_objects=[obj]) == []


def test_managed_fields_entries_of_an_apiversion_removed_before_the_hop_do_not_count():
    obj = flowschema(api_version="flowcontrol.apiserver.k8s.io/v1", metadata={"name": "t"})
    obj["metadata"]["managedFields"] = [wrote("kubectl", "flowcontrol.apiserver.k8s.io/v1beta2")]  # removed 1.29
    assert scan("1.32", current_version="1.31", live_objects=[obj]) == []


def test_apiserver_maintained_flowschemas_are_not_reported():
    system = flowschema("system-leader-election")
    system["metadata"]["annotations"] = {"apf.kubernetes.io/autoupdate-spec": "true"}
    assert scan("1.32", live_objects=[system]) == []


def test_same_object_found_by_helm_and_last_applied_is_reported_once_with_both_sources():
    live = with_last_applied(flowschema(), flowschema())
    findings = scan("1.32", helm_secrets=[helm_secret("ledger", 3, flowschema())], live_objects=[live])
    assert len(findings) == 1
    assert findings[0].sources == ("helm:ledger@3", "last-applied", "live")
    assert findings[0].source == "helm:ledger@3"


def test_same_name_in_two_namespaces_is_two_findings():
    objects = [
        k8s_object("batch/v1beta1", "CronJob", "nightly", "payments"),
        k8s_object("batch/v1beta1", "CronJob", "nightly", "billing"),
    ]
    assert [f.namespace for f in scan("1.25", live_objects=objects)] == ["billing", "payments"]


def test_findings_are_ordered_by_removal_release_then_namespace_kind_and_name():
    objects = [
        flowschema("b"),
        k8s_object("batch/v1beta1", "CronJob", "z", "payments"),
        flowschema("a"),
        k8s_object("policy/v1beta1", "PodDisruptionBudget", "a", "payments"),
    ]
    findings = find_removed_apis("1.32", current_version="1.24", live_objects=objects, removals=REMOVALS)
    assert [(f.removed_in, f.kind, f.name) for f in findings] == [
        ("1.25", "CronJob", "z"),
        ("1.25", "PodDisruptionBudget", "a"),
        ("1.32", "FlowSchema", "a"),
        ("1.32", "FlowSchema", "b"),
    ]


def test_malformed_target_version_is_refused():
    with pytest.raises(ValueError, match=r"1\.NN"):
        scan("latest")


# --- render_findings_markdown -------------------------------------------------------------------------------


def test_findings_table_names_object_sources_release_and_replacement():
    live = with_last_applied(flowschema(), flowschema())
    table = render_findings_markdown(
        scan("1.32", helm_secrets=[helm_secret("ledger", 3, flowschema())], live_objects=[live])
    )
    header, _rule, row = table.splitlines()
    assert header == "| object | where found | removed in | replace with | note |"
    assert row.startswith(
        "| `flowcontrol.apiserver.k8s.io/v1beta3` FlowSchema ledger-priority | helm:ledger@3, last-applied, live "
        "| 1.32 | `flowcontrol.apiserver.k8s.io/v1` |"
    )


def test_namespaced_finding_is_shown_as_namespace_slash_name():
    cronjob = k8s_object("batch/v1beta1", "CronJob", "nightly", "payments")
    assert "CronJob payments/nightly |" in render_findings_markdown(scan("1.25", live_objects=[cronjob]))


def test_psp_row_says_nothing_replaces_it():
    psp = k8s_object("policy/v1beta1", "PodSecurityPolicy", "restricted")
    assert "| nothing (see note) | No replacement API" in render_findings_markdown(scan("1.25", live_objects=[psp]))


def test_pipes_in_a_note_do_not_break_the_table():
    finding = DeprecatedObject("batch/v1beta1", "CronJob", "ns", "n", "1.25", "batch/v1", ("live",), note="a | b")
    assert "a \\| b" in render_findings_markdown([finding])


def test_no_findings_renders_a_sentence_not_an_empty_table():
    assert render_findings_markdown([]) == "No object uses an apiVersion that the target version removes."


# --- find_removed_api_clients ------------------------------------------------------------------------------


def deprecation_insight(*details: dict) -> dict:
    return {"category": "UPGRADE_READINESS", "categorySpecificSummary": {"deprecationDetails": list(details)}}


def deprecation(stop: str, *agents: str, usage: str = "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas"):
    return {
        "usage": usage,
        "replacedWith": usage.replace("v1beta3", "v1"),
        "stopServingVersion": stop,
        "clientStats": [{"userAgent": agent, "numberOfRequestsLast30Days": 7} for agent in agents],
    }


def test_insights_clients_of_an_api_the_hop_removes_are_found_naming_each_client():
    insight = deprecation_insight(deprecation("1.32", "argocd-application-controller/v2.9"))
    [found] = find_removed_api_clients([insight], "1.32", current_version="1.31")
    assert found.usage == "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas"
    assert found.replaced_with == "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas"
    assert found.clients == ("argocd-application-controller/v2.9 (7 request(s) in 30 days)",)


def test_insights_without_client_stats_or_for_other_versions_are_not_clients():
    insights = [deprecation_insight(deprecation("1.32"), deprecation("1.33", "old-operator/1.0"))]
    assert find_removed_api_clients(insights, "1.32", current_version="1.31") == []
    assert find_removed_api_clients([{"category": "MISCONFIGURATION"}], "1.32") == []
