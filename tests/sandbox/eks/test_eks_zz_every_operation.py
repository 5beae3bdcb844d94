"""Every simulated EKS operation answered some test with a response that fits botocore's output shape.

Runs last (file name) and only when the whole folder ran: the other tests' EKS clients record each operation
whose responses passed ``assert_matches_output_shape`` (conftest ``validate_every_response``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eks_sandbox.eks.operations import OPERATIONS
from tests.sandbox.eks.shape import SEEN_OPERATIONS


def test_every_simulated_operation_returned_a_shape_valid_response(request):
    folder = Path(__file__).parent
    modules = {p.name for p in folder.glob("test_eks_*.py")}
    collected = {Path(str(item.fspath)).name for item in request.session.items}
    if not modules <= collected:
        pytest.skip("only meaningful when the whole tests/sandbox/eks folder runs")
    missing = sorted(set(OPERATIONS) - SEEN_OPERATIONS)
    assert not missing, f"no test got a successful response from: {', '.join(missing)}"
