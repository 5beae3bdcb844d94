"""``eks-sandbox serve --fleet`` with a fleet it cannot load: one clear line on stderr, exit 2, no traceback."""

from __future__ import annotations

import subprocess

import pytest

from eks_sandbox.cli import main
from tests.helpers import VENV_BIN, free_port

BAD_SUBNET_FLEET = """
as_of: 2026-01-20
accounts:
  - id: "123456789012"
    regions:
      us-east-1:
        network:
          subnets:
            - {name: private-a, az: us-east-1a, cidr: 10.0.0.0/19}
        clusters:
          - name: broken
            version: "1.31"
            subnets: [private-z]
"""


def test_serve_explains_a_fleet_it_cannot_build_and_exits_2(tmp_path):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(BAD_SUBNET_FLEET)
    result = subprocess.run(
        [str(VENV_BIN / "eks-sandbox"), "serve", "--fleet", str(fleet), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"eks-sandbox: cannot load fleet {fleet}: cluster broken, CreateCluster: "
        "unknown subnet 'private-z': the region's network defines private-a"
    )
    assert "Traceback" not in result.stdout + result.stderr
    assert "eks-sandbox: stopped" in result.stdout  # the server was stopped before reporting


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "No such file or directory"), ("accounts: [unclosed", "while parsing")],
    ids=["missing-file", "bad-yaml"],
)
def test_serve_explains_a_fleet_file_it_cannot_read_and_exits_2(tmp_path, capsys, content, expected):
    fleet = tmp_path / "fleet.yaml"
    if content is not None:
        fleet.write_text(content)
    assert main(["serve", "--fleet", str(fleet), "--port", str(free_port())]) == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith(f"eks-sandbox: cannot load fleet {fleet}: ") and expected in stderr
