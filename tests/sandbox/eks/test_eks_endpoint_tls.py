"""A cluster's endpoint as DescribeCluster reports it: HTTPS on its own port, no path, signed by the reported CA."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import urllib.request
from urllib.parse import urlsplit

from cryptography import x509

from tests.helpers import eks_token


def _trusting(cluster: dict) -> ssl.SSLContext:
    """A client context that trusts exactly DescribeCluster's ``certificateAuthority`` (hostnames checked)."""
    pem = base64.b64decode(cluster["certificateAuthority"]["data"]).decode()
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    return ssl.create_default_context(cadata=pem)


def test_the_endpoint_is_https_on_a_port_of_its_own_with_no_path(simulated_fleet):
    simulated_fleet.create_cluster()
    cluster = simulated_fleet.eks.describe_cluster(name="prod")["cluster"]  # boto3, plain HTTP
    endpoint, aws = urlsplit(cluster["endpoint"]), urlsplit(simulated_fleet.url)
    assert (endpoint.scheme, aws.scheme) == ("https", "http")
    assert endpoint.hostname == aws.hostname and endpoint.port != aws.port and endpoint.path == ""
    assert simulated_fleet.sandbox.base_url == simulated_fleet.url
    token = eks_token("prod", simulated_fleet.url)
    request = urllib.request.Request(
        cluster["endpoint"] + "/api/v1/nodes", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, context=_trusting(cluster)) as response:
        assert json.load(response)["kind"] == "NodeList"
    assert simulated_fleet.ec2.describe_vpcs()["Vpcs"]  # moto, over HTTP, on the AWS APIs' port


def test_the_served_certificate_validates_against_describe_clusters_ca_for_127_0_0_1(simulated_fleet):
    simulated_fleet.create_cluster()
    cluster = simulated_fleet.eks.describe_cluster(name="prod")["cluster"]
    endpoint = urlsplit(cluster["endpoint"])
    assert endpoint.hostname == "127.0.0.1"
    with (
        socket.create_connection((endpoint.hostname, endpoint.port), timeout=10) as raw,
        _trusting(cluster).wrap_socket(raw, server_hostname=endpoint.hostname) as tls,
    ):
        served = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "127.0.0.1" in {str(address) for address in names.get_values_for_type(x509.IPAddress)}
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    ca = x509.load_pem_x509_certificate(base64.b64decode(cluster["certificateAuthority"]["data"]))
    assert served.issuer == ca.subject
    served.verify_directly_issued_by(ca)


def test_every_cluster_of_a_sandbox_reports_the_same_ca_and_another_sandbox_another(simulated_fleet):
    from eks_sandbox.world import Sandbox

    simulated_fleet.create_cluster(name="a")
    simulated_fleet.create_cluster(name="b")
    described = [simulated_fleet.eks.describe_cluster(name=name)["cluster"] for name in ("a", "b")]
    reported = {cluster["certificateAuthority"]["data"] for cluster in described}
    assert reported == {simulated_fleet.sandbox.tls.data}
    assert Sandbox().tls.data != simulated_fleet.sandbox.tls.data


def test_a_cluster_still_creating_reports_no_endpoint_and_no_ca(simulated_fleet):
    simulated_fleet.create_cluster(settle=False)
    cluster = simulated_fleet.eks.describe_cluster(name="prod")["cluster"]
    assert "endpoint" not in cluster and "certificateAuthority" not in cluster
