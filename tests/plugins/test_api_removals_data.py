"""The shape of include/kubernetes/api-removals.yaml, and the removals corrected against the lifecycle data.

Read as plain YAML, not through the loader, so a field the loader would default or coerce is still caught here.
The corrected releases come from the zz_generated.prerelease-lifecycle.go files of kubernetes/api (tag v0.N.0
is Kubernetes 1.N); each scenario test names the tag and file that proves it.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
import yaml

from eks_runbooks.core.include import include_path

DATA = yaml.safe_load(include_path("kubernetes", "api-removals.yaml").read_text())
ENTRIES = DATA["removals"]
FIELDS = {"api_version", "kind", "namespaced", "deprecated_in", "removed_in", "replacement", "note", "source"}

LIFECYCLE_SOURCE = re.compile(
    r"^kubernetes/(api|apiextensions-apiserver|kube-aggregator) v0\.(?P<minor>\d+)\.0 "
    r"(\S+/)?(?P<group>[a-z0-9]+)/(?P<version>v\d+(alpha|beta)\d+)/zz_generated\.prerelease-lifecycle\.go "
    r"\((?P<why>.+)\)$"
)
GUIDE_SOURCE = "kubernetes.io/docs/reference/using-api/deprecation-guide/"


def minor(version: str) -> int:
    major, _, minor_part = version.partition(".")
    assert major == "1" and minor_part.isdigit(), version
    return int(minor_part)


def entry(api_version: str, kind: str) -> dict:
    [found] = [e for e in ENTRIES if (e["api_version"], e["kind"]) == (api_version, kind)]
    return found


def entry_id(e: dict) -> str:
    return f"{e['api_version']} {e['kind']}"


# --- shape --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("e", ENTRIES, ids=entry_id)
def test_every_entry_has_exactly_the_documented_fields(e):
    assert set(e) == FIELDS
    assert isinstance(e["namespaced"], bool)
    for field in ("api_version", "kind", "removed_in", "source"):
        assert isinstance(e[field], str) and e[field].strip(), field
    assert "/" in e["api_version"]


@pytest.mark.parametrize("e", ENTRIES, ids=entry_id)
def test_removed_in_is_within_the_runbooks_range_and_after_the_deprecation(e):
    assert 22 <= minor(e["removed_in"]) <= 36
    if e["deprecated_in"] is not None:
        assert minor(e["deprecated_in"]) < minor(e["removed_in"])


@pytest.mark.parametrize("e", ENTRIES, ids=entry_id)
def test_alpha_entries_carry_no_deprecation_release(e):
    if "alpha" in e["api_version"].rpartition("/")[2]:
        assert e["deprecated_in"] is None


@pytest.mark.parametrize("e", ENTRIES, ids=entry_id)
def test_replacement_differs_from_the_removed_version_or_a_note_says_why_there_is_none(e):
    if e["replacement"] is None:
        assert e["note"]
    else:
        assert e["replacement"] != e["api_version"]


@pytest.mark.parametrize("e", ENTRIES, ids=entry_id)
def test_source_names_a_lifecycle_file_at_a_tag_or_the_deprecation_guide(e):
    if e["source"].startswith(GUIDE_SOURCE):
        return
    match = LIFECYCLE_SOURCE.match(e["source"])
    assert match, e["source"]
    assert match["version"] == e["api_version"].rpartition("/")[2]
    tag_minor = int(match["minor"])
    if match["why"].startswith("last tag with the kind"):
        # The kind left the tree before the release its lifecycle file names: removed in the first tag without it.
        assert f"gone from v0.{tag_minor + 1}.0" in match["why"]
        assert tag_minor + 1 == minor(e["removed_in"])
    else:
        assert match["why"] == f"APILifecycleRemoved {e['removed_in']}"
        assert tag_minor == minor(e["removed_in"])


def test_no_apiversion_and_kind_is_listed_twice():
    counts = Counter((e["api_version"], e["kind"]) for e in ENTRIES)
    assert [key for key, count in counts.items() if count > 1] == []


# --- corrected against the lifecycle data -------------------------------------------------------------------


def test_selfsubjectreview_v1beta1_is_removed_in_1_33():
    # kubernetes/api v0.33.0 authentication/v1beta1/zz_generated.prerelease-lifecycle.go: deprecated 1.30, removed 1.33
    e = entry("authentication.k8s.io/v1beta1", "SelfSubjectReview")
    assert (e["deprecated_in"], e["removed_in"], e["replacement"]) == ("1.30", "1.33", "authentication.k8s.io/v1")
    assert e["namespaced"] is False


@pytest.mark.parametrize("kind", ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"])
def test_validatingadmissionpolicy_v1beta1_is_removed_in_1_34(kind):
    # kubernetes/api v0.34.0 admissionregistration/v1beta1/zz_generated.prerelease-lifecycle.go: 1.31 / 1.34
    e = entry("admissionregistration.k8s.io/v1beta1", kind)
    assert (e["deprecated_in"], e["removed_in"], e["replacement"]) == (
        "1.31",
        "1.34",
        "admissionregistration.k8s.io/v1",
    )
    assert e["namespaced"] is False


def test_selfsubjectrulesreview_v1beta1_is_removed_in_1_22_with_the_other_review_kinds():
    # kubernetes/api v0.22.0 authorization/v1beta1/zz_generated.prerelease-lifecycle.go: 1.19 / 1.22
    e = entry("authorization.k8s.io/v1beta1", "SelfSubjectRulesReview")
    assert (e["deprecated_in"], e["removed_in"], e["replacement"]) == ("1.19", "1.22", "authorization.k8s.io/v1")


@pytest.mark.parametrize("kind", ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"])
def test_validatingadmissionpolicy_v1alpha1_is_removed_in_1_32_not_1_33(kind):
    # kubernetes/api v0.32.0 admissionregistration/v1alpha1/zz_generated.prerelease-lifecycle.go: removed 1.32.
    # 1.33 only deleted the code (kubernetes#129207): the 1.32 apiserver already refuses the kind.
    e = entry("admissionregistration.k8s.io/v1alpha1", kind)
    assert (e["removed_in"], e["replacement"]) == ("1.32", "admissionregistration.k8s.io/v1")
    assert e["source"].startswith("kubernetes/api v0.32.0 admissionregistration/v1alpha1/")


@pytest.mark.parametrize("kind", ["DeviceClass", "ResourceClaim", "ResourceClaimTemplate", "ResourceSlice"])
def test_dra_v1alpha3_is_removed_in_1_34_not_1_33(kind):
    # The kinds are still in kubernetes/api v0.33.0 resource/v1alpha3 and gone from v0.34.0 (only DeviceTaintRule
    # stays); their lifecycle file's own removal, 1.37, is later. v1beta1 is served by both 1.33 and 1.34.
    e = entry("resource.k8s.io/v1alpha3", kind)
    assert (e["removed_in"], e["replacement"]) == ("1.34", "resource.k8s.io/v1beta1")
    assert e["source"].startswith("kubernetes/api v0.33.0 resource/v1alpha3/")


def test_flowcontrol_v1beta1_replacement_is_the_version_1_25_and_1_26_both_serve():
    # The lifecycle file names v1beta3, which only arrives in 1.26; v1beta2 is served 1.23-1.28.
    e = entry("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema")
    assert (e["removed_in"], e["replacement"]) == ("1.26", "flowcontrol.apiserver.k8s.io/v1beta2")


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("admission.k8s.io/v1beta1", "AdmissionReview"),
        ("apiextensions.k8s.io/v1beta1", "ConversionReview"),
        ("batch/v1beta1", "JobTemplate"),
        ("policy/v1beta1", "Eviction"),
        ("apidiscovery.k8s.io/v2beta1", "APIGroupDiscovery"),
    ],
)
def test_kinds_that_are_no_stored_or_listed_object_are_left_out(api_version, kind):
    assert not [e for e in ENTRIES if (e["api_version"], e["kind"]) == (api_version, kind)]
