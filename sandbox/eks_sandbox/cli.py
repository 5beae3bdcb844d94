"""``eks-sandbox``: serve a simulated EKS fleet on loopback.

    eks-sandbox serve --fleet include/sandbox/fleets/demo.yaml --time-scale 0.05 [--date 2026-03-01]

prints the endpoint, then serves until Ctrl-C or SIGTERM. Point an Airflow ``aws`` connection's
``endpoint_url`` (or ``AWS_ENDPOINT_URL``) at it (plain HTTP); DescribeCluster's ``endpoint`` of each cluster is
its Kubernetes API on the same port, over HTTPS, signed by the CA in ``certificateAuthority``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from datetime import date
from pathlib import Path

import yaml


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``eks-sandbox`` console script."""
    parser = argparse.ArgumentParser(prog="eks-sandbox", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the simulated fleet until interrupted")
    serve.add_argument("--fleet", type=Path, help="fleet file to load (YAML); default: an empty fleet")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument("--port", type=int, default=5055, help="port to bind (default: %(default)s)")
    serve.add_argument(
        "--advertise-url",
        help="base URL clients reach the sandbox at (default: http://HOST:PORT), e.g. http://sandbox:5055 in "
        "docker-compose; cluster endpoints are https:// on its host and port, which the TLS certificate names",
    )
    serve.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiplies every simulated duration: 1 = realistic minutes, 0.01 = 100x faster (default: 1)",
    )
    serve.add_argument(
        "--date",
        type=_world_date,
        help="the simulated world's date (YYYY-MM-DD): its clock starts at 00:00 UTC that day and runs at the time "
        "scale; wins over the fleet's as_of (default: the fleet's as_of, else today)",
    )
    serve.add_argument("--log-requests", action="store_true", help="log every request served (to stderr)")
    args = parser.parse_args(argv)
    return _serve(args)


def _world_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {value!r}") from None


def _serve(args: argparse.Namespace) -> int:
    from eks_sandbox.fleet import FleetError, fleet_as_of, load_fleet
    from eks_sandbox.server import SandboxServer
    from eks_sandbox.world import Sandbox

    fleet: Path | None = args.fleet
    try:
        fleet_document = yaml.safe_load(fleet.read_text()) if fleet else None
        start = args.date or fleet_as_of(fleet_document)
    except (OSError, yaml.YAMLError, FleetError) as error:
        print(f"eks-sandbox: cannot load fleet {fleet}: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    sandbox = Sandbox(time_scale=args.time_scale, start=start)
    sandbox.fleet_loaded = fleet_document is None
    try:
        server = SandboxServer(
            sandbox, host=args.host, port=args.port, advertise_url=args.advertise_url, log_requests=args.log_requests
        ).start()
    except (OSError, SystemExit):  # werkzeug reports a busy port itself, then exits
        print(f"eks-sandbox: cannot listen on {args.host}:{args.port}; choose another --port", file=sys.stderr)
        return 1
    failure: FleetError | None = None
    try:
        if fleet_document is not None:
            summary = load_fleet(sandbox, fleet_document)
            sandbox.fleet_loaded = True
            print(f"eks-sandbox: loaded fleet {fleet}: {json.dumps(summary['clusters'])}", flush=True)
        print(
            f"eks-sandbox: serving AWS (http) and Kubernetes (https) APIs on {server.url} "
            f"(world date {sandbox.clock.now().date()}, time scale {args.time_scale})",
            flush=True,
        )
        stop.wait()
    except FleetError as error:
        failure = error
    finally:
        server.stop()
        print("eks-sandbox: stopped", flush=True)
    if failure is not None:
        print(f"eks-sandbox: cannot load fleet {fleet}: {failure}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
