"""The benchmarks' generated fleet for a sandbox running on its own (``eks-sandbox serve``), and the Airflow settings
that reach it: for measuring the nightly audits on a deployed Airflow rather than under ``dag.test()``.

    .venv/bin/python scripts/benchmark_fleet.py --clusters 500 --write fleet.yaml > fleet.env
    .venv/bin/eks-sandbox serve --fleet fleet.yaml          # or, into a sandbox serving with --date 2026-01-20:
    .venv/bin/python scripts/benchmark_fleet.py --clusters 500 --post http://127.0.0.1:5055 > fleet.env

Either way the script prints, one ``NAME='value'`` a line (``set -a; . file`` reads them), what Airflow's
components need for both nightly audits over that fleet: the two accounts' connections (``aws_default`` and
``aws_fleet_b``, reached by AssumeRole, as in ``benchmark_audit.py``), Variables ``eks_fleet`` and
``eks_required_tags``, and the world date (``EKS_RUNBOOKS_AS_OF``); ``--endpoint`` names the sandbox's URL as the
workers reach it (default: the ``--post`` URL, else http://127.0.0.1:5055). Trigger each audit with
``{"targets": <Variable eks_fleet>}`` or no conf at all (the Variable is the default).

The fleet is ``benchmark_cost.py``'s (``--profile cost``, the default: four cost profiles in turn, which the
compliance audit also audits, every check answered) or ``benchmark_audit.py``'s (``--profile compliance``:
hardened, middling and neglected clusters in turn), over two accounts and four regions.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from benchmark_audit import FLEET_DATE, audit_targets, cluster_spec, connections, fleet_document
from benchmark_cost import cost_cluster_spec

PROFILES = {"cost": cost_cluster_spec, "compliance": cluster_spec}
DEFAULT_ENDPOINT = "http://127.0.0.1:5055"


def fleet_yaml(clusters: int, profile: str = "cost") -> str:
    """The fleet file (docs/sandbox.md#fleet-files) of ``clusters`` clusters of ``profile``."""
    return yaml.safe_dump(fleet_document(clusters, PROFILES[profile]), sort_keys=False)


def post_fleet(endpoint_url: str, clusters: int, profile: str = "cost", timeout: float = 1800) -> dict[str, Any]:
    """Load the fleet into a running sandbox (``POST /_sandbox/fleet``); returns its answer. 500 clusters take
    about two minutes to build."""
    request = urllib.request.Request(
        f"{endpoint_url.rstrip('/')}/_sandbox/fleet",
        data=fleet_yaml(clusters, profile).encode(),
        headers={"Content-Type": "application/yaml"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"{}")


def airflow_environment(endpoint_url: str) -> dict[str, str]:
    """The connections, Variables and world date Airflow's components need to audit the fleet at ``endpoint_url``."""
    return connections(endpoint_url) | {
        "AIRFLOW_VAR_EKS_FLEET": json.dumps(audit_targets()),
        "AIRFLOW_VAR_EKS_REQUIRED_TAGS": json.dumps(["team", "environment"]),
        "EKS_RUNBOOKS_AS_OF": FLEET_DATE.isoformat(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, default=500, help="clusters in the fleet (default 500)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="cost", help="the clusters' kind (default cost)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--write", type=Path, metavar="FILE", help="write the fleet file for `eks-sandbox serve --fleet`"
    )
    where.add_argument("--post", metavar="URL", help="load the fleet into the sandbox running at URL")
    parser.add_argument("--endpoint", help=f"the sandbox's URL as Airflow reaches it (default {DEFAULT_ENDPOINT})")
    args = parser.parse_args()
    if args.clusters < 1:
        parser.error("--clusters must be at least 1")
    if args.write:
        args.write.write_text(fleet_yaml(args.clusters, args.profile))
    else:
        answer = post_fleet(args.post, args.clusters, args.profile)
        print(f"loaded {len(answer.get('clusters', []))} clusters into {args.post}", file=sys.stderr)
    for name, value in airflow_environment(args.endpoint or args.post or DEFAULT_ENDPOINT).items():
        print(f"{name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
