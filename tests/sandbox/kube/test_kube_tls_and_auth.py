"""The simulated API server as EKS serves it: HTTPS only, an EKS token required outside the public-info paths."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

import pytest


def _refused(kube, path: str, **options) -> urllib.error.HTTPError:
    with pytest.raises(urllib.error.HTTPError) as refused:
        kube.open(path, **options).close()
    return refused.value


def test_a_request_without_a_bearer_token_is_unauthorized(kube):
    error = _refused(kube, "/api/v1/pods", token=None)
    status = json.load(error)
    assert error.code == 401
    assert (status["kind"], status["status"], status["reason"], status["code"]) == (
        "Status",
        "Failure",
        "Unauthorized",
        401,
    )


@pytest.mark.parametrize("authorization", ["Bearer ", "Bearer", "Basic dXNlcjpwYXNz", "sim-token"])
def test_an_empty_token_or_another_scheme_is_unauthorized(kube, authorization):
    assert _refused(kube, "/api/v1/namespaces", token=None, headers={"Authorization": authorization}).code == 401


@pytest.mark.parametrize("token", ["garbage", "k8s-aws-v1.anything", "k8s-aws-v1." + "aHR0cHM6Ly9leGFtcGxlLmNvbS8"])
def test_a_token_that_is_not_an_eks_token_is_unauthorized(kube, token):
    error = _refused(kube, "/api/v1/pods", token=token)
    assert error.code == 401 and json.load(error)["message"] == "Unauthorized"


def test_a_bad_token_is_unauthorized_even_on_a_public_path(kube):
    """kube-apiserver falls back to anonymous only when no credentials are presented."""
    assert _refused(kube, "/version", token="garbage").code == 401


def test_the_clusters_eks_token_is_accepted(kube):
    with kube.open("/api/v1/pods") as response:
        assert response.status == 200 and json.load(response)["kind"] == "PodList"


@pytest.mark.parametrize("path", ["/version", "/version/", "/healthz", "/livez", "/readyz"])
def test_public_info_paths_are_served_without_a_token(kube, path):
    """What ClusterRole system:public-info-viewer grants anonymous clients on EKS."""
    with kube.open(path, token=None) as response:
        assert response.status == 200


def test_discovery_is_not_public(kube):
    assert _refused(kube, "/api", token=None).code == 401
    assert _refused(kube, "/apis", token=None).code == 401


def test_a_client_that_does_not_trust_the_sandbox_ca_fails_verification(kube):
    untrusting = ssl.create_default_context()  # the system's CAs only
    with pytest.raises(urllib.error.URLError) as failed:
        urllib.request.urlopen(kube.url + "/version", context=untrusting)
    assert isinstance(failed.value.reason, ssl.SSLCertVerificationError)


def test_the_python_client_refuses_an_unverified_server_unless_given_the_ca(kube):
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = kube.url
    configuration.api_key = {"BearerToken": kube.token}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    configuration.retries = False
    # The client reports the SSLError as ApiException(status=0), then trips over its empty body
    # (AttributeError): look for the verification failure along the chain of exceptions.
    with client.ApiClient(configuration) as api, pytest.raises(Exception) as failed:
        client.VersionApi(api).get_code()
    chain, error = [], failed.value
    while error is not None:
        chain.append(str(error))
        error = error.__cause__ or error.__context__
    assert any("CERTIFICATE_VERIFY_FAILED" in message for message in chain), chain
    configuration.ssl_ca_cert = str(kube.ca_file)
    with client.ApiClient(configuration) as api:
        assert client.VersionApi(api).get_code().minor == "31"


def test_plain_http_on_the_kubernetes_path_is_refused_as_by_an_https_server(kube):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(kube.url.replace("https://", "http://", 1) + "/version")
    assert refused.value.code == 400 and b"HTTP request to an HTTPS server" in refused.value.read()
