"""moto's AWS managed IAM policies are parsed once per test process, and every account still gets all of them.

moto builds each account's IAM backend with every AWS managed policy; every test with a sandbox rebuilds those
backends when it resets moto. tests.helpers.share_aws_managed_policies keeps one parse for them all.
"""

from __future__ import annotations

import json

import pytest

from tests.helpers import share_aws_managed_policies


def test_iam_backends_of_two_accounts_get_every_aws_managed_policy_without_parsing_them_again(
    monkeypatch: pytest.MonkeyPatch,
):
    from moto.iam import models
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    import eks_sandbox.moto_compat  # noqa: F401  (the sandbox has moto load AWS managed policies)

    share_aws_managed_policies()
    parses = []
    real_loads = json.loads

    def counting_loads(text, *args, **kwargs):
        parses.append(text is aws_managed_policies_data)
        return real_loads(text, *args, **kwargs)

    monkeypatch.setattr(models.json, "loads", counting_loads)
    first, second = (models.IAMBackend(region_name="global", account_id=account) for account in ("111", "222"))
    monkeypatch.undo()

    assert not any(parses)
    expected = json.loads(aws_managed_policies_data)
    for backend in (first, second):
        policies = {policy.name: policy for policy in backend.aws_managed_policies}
        assert policies.keys() == expected.keys()
        assert all(policy.account_id == backend.account_id for policy in policies.values())
        some = "AmazonEKSClusterPolicy"
        assert json.loads(policies[some].versions[0].document) == expected[some]["Document"]
        assert policies[some].arn == "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
