from __future__ import annotations

import base64

import pytest

from eks_runbooks.core.kubernetes.deprecations import decode_helm_release
from eks_runbooks.core.kubernetes.helm import HelmRelease, is_helm_release_storage, latest_deployed, storage_label
from tests.plugins.core.kubernetes.helm_storage import (
    helm_configmap,
    helm_encode,
    helm_secret,
    k8s_object,
    release_document,
    secret_holding,
)

FLOWSCHEMA = k8s_object("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", "ledger-priority")
DEPLOYMENT = k8s_object("apps/v1", "Deployment", "ledger", "payments")


def test_helm_secret_is_decoded_with_its_rendered_objects():
    release = decode_helm_release(helm_secret("ledger", 3, FLOWSCHEMA, DEPLOYMENT))
    assert release == HelmRelease(
        name="ledger",
        namespace="payments",
        revision=3,
        chart="ledger-1.2.0",
        status="deployed",
        objects=(FLOWSCHEMA, DEPLOYMENT),
    )
    assert release.label == "helm:ledger@3"


def test_helm_configmap_storage_is_decoded_like_kubent():
    release = decode_helm_release(helm_configmap("ledger", 2, FLOWSCHEMA))
    assert release is not None
    assert (release.name, release.revision, release.objects) == ("ledger", 2, (FLOWSCHEMA,))


def test_uncompressed_helm_payload_is_decoded_as_helm_does():
    document = release_document("ledger", 1, (DEPLOYMENT,))
    release = decode_helm_release(secret_holding(helm_encode(document, gzipped=False), "ledger", 1, "payments", "x"))
    assert release is not None and release.objects == (DEPLOYMENT,)


def test_list_kind_in_a_manifest_is_expanded_into_its_items():
    listing = {"apiVersion": "v1", "kind": "List", "items": [FLOWSCHEMA, DEPLOYMENT]}
    release = decode_helm_release(helm_secret("ledger", 1, listing))
    assert release is not None and release.objects == (FLOWSCHEMA, DEPLOYMENT)


def test_release_namespace_falls_back_to_the_storage_namespace():
    document = release_document("ledger", 1, (DEPLOYMENT,))
    del document["namespace"]
    release = decode_helm_release(secret_holding(helm_encode(document), "ledger", 1, "payments", "deployed"))
    assert release is not None and release.namespace == "payments"


def test_secret_of_another_type_is_not_a_helm_release():
    opaque = {**helm_secret("ledger", 1, DEPLOYMENT), "type": "Opaque"}
    assert not is_helm_release_storage(opaque)
    assert decode_helm_release(opaque) is None


def test_helm2_tiller_configmap_is_not_read():
    tiller = helm_configmap("ledger", 1, DEPLOYMENT)
    tiller["metadata"]["labels"]["owner"] = "TILLER"
    assert not is_helm_release_storage(tiller)
    assert decode_helm_release(tiller) is None


def corrupt(change) -> dict:
    secret = helm_secret("ledger", 4, FLOWSCHEMA)
    change(secret)
    return secret


def _encode_twice(text: str) -> str:
    return base64.b64encode(base64.b64encode(text.encode())).decode()


CORRUPTIONS = {
    "no data": lambda s: s.pop("data"),
    "no release key": lambda s: s["data"].pop("release"),
    "data is null": lambda s: s.update(data=None),
    "not base64": lambda s: s["data"].update(release="%%% not base64 %%%"),
    "base64 of not base64": lambda s: s["data"].update(release=base64.b64encode(b"%%%").decode()),
    "truncated gzip": lambda s: s["data"].update(
        release=base64.b64encode(
            base64.b64encode(base64.b64decode(base64.b64decode(s["data"]["release"]))[:20])
        ).decode()
    ),
    "not json": lambda s: s["data"].update(release=_encode_twice("{not json")),
    "json list": lambda s: s["data"].update(release=_encode_twice("[1, 2]")),
    "no name": lambda s: s["data"].update(release=base64.b64encode(helm_encode({"version": 1}).encode()).decode()),
    "no revision in release or labels": lambda s: (
        s["metadata"]["labels"].pop("version"),
        s["data"].update(release=base64.b64encode(helm_encode({"name": "x"}).encode()).decode()),
    ),
    "manifest not yaml": lambda s: s["data"].update(
        release=base64.b64encode(
            helm_encode({"name": "x", "version": 1, "info": {"status": "deployed"}, "manifest": "a: [b"}).encode()
        ).decode()
    ),
    "chart not an object": lambda s: s["data"].update(
        release=base64.b64encode(helm_encode({"name": "x", "version": 1, "chart": "oops"}).encode()).decode()
    ),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS, ids=list(CORRUPTIONS))
def test_corrupt_helm_release_is_skipped_not_raised(corruption):
    secret = corrupt(CORRUPTIONS[corruption])
    assert is_helm_release_storage(secret)
    assert decode_helm_release(secret) is None


@pytest.mark.parametrize("not_storage", [None, "text", 42, [], {}, {"type": "helm.sh/release.v1"}])
def test_anything_that_is_not_a_mapping_or_is_empty_decodes_to_none(not_storage):
    assert decode_helm_release(not_storage) is None


def test_latest_deployed_ignores_superseded_history_and_a_later_failed_upgrade():
    def release(revision: int, status: str, name: str = "ledger") -> HelmRelease:
        return HelmRelease(name, "payments", revision, "ledger-1", status, ())

    releases = [release(1, "superseded"), release(2, "deployed"), release(3, "failed"), release(1, "deployed", "api")]
    assert [(r.name, r.revision) for r in latest_deployed(releases)] == [("api", 1), ("ledger", 2)]


def test_release_with_no_deployed_revision_has_nothing_deployed():
    assert latest_deployed([HelmRelease("ledger", "payments", 1, "ledger-1", "failed", ())]) == []


def test_revision_missing_from_the_release_is_taken_from_the_storage_labels():
    secret = helm_secret("ledger", 5)
    secret["data"]["release"] = base64.b64encode(helm_encode({"name": "ledger"}).encode()).decode()
    release = decode_helm_release(secret)
    assert release is not None and (release.revision, release.status) == (5, "deployed")


def test_storage_label_names_the_object_for_a_report():
    assert storage_label(helm_secret("ledger", 3)) == "Secret payments/sh.helm.release.v1.ledger.v3"
    assert storage_label(helm_configmap("ledger", 3)) == "ConfigMap payments/ledger.v3"
