"""The sandbox's own HTTP API under ``/_sandbox``: health, faults, simulated time, fleet loading.

Runbooks never call it; people and tests do, to set up a rehearsal (``curl -XPOST .../_sandbox/faults``).
Every endpoint speaks JSON (fleet loading accepts YAML) and answers errors as ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import yaml
from werkzeug.wrappers import Request, Response

from eks_sandbox import moto_compat
from eks_sandbox.eks.errors import EksError
from eks_sandbox.fleet import FleetError, load_fleet
from eks_sandbox.world import Sandbox

#: The longest clock skip: ten years covers every EKS support window, and stays far from datetime's range.
MAX_SKIP_MINUTES = 10 * 365 * 24 * 60


def make_control_app(sandbox: Sandbox) -> Callable[..., Iterable[bytes]]:
    """WSGI app for ``/_sandbox/...``."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        route = (request.method, request.path.removeprefix("/_sandbox").rstrip("/") or "/")
        try:
            response = _dispatch(sandbox, route, request)
        except FleetError as error:
            response = _json(
                {"error": f"cannot load fleet: {error}", "cluster": error.cluster, "step": error.step}, 400
            )
        except EksError as error:
            response = _json({"error": f"{error.code}: {error.message}"}, error.status)
        except json.JSONDecodeError as error:
            response = _json({"error": f"the request body is not valid JSON: {error}"}, 400)
        except yaml.YAMLError as error:
            response = _json({"error": f"the fleet is not valid YAML: {error}"}, 400)
        except KeyError as error:
            response = _json({"error": f"missing field {error.args[0]!r} in the request body"}, 400)
        except (ValueError, TypeError) as error:
            response = _json({"error": str(error)}, 400)
        return response(environ, start_response)

    return app


def _dispatch(sandbox: Sandbox, route: tuple[str, str], request: Request) -> Response:
    method, path = route
    if (method, path) in (("GET", "/"), ("GET", "/health")):
        with sandbox.transaction():
            return _json(
                {
                    "status": "ok",
                    "time_scale": sandbox.clock.time_scale,
                    "world_date": sandbox.clock.now().date().isoformat(),
                    "simulated_now": sandbox.clock.now().isoformat(),
                    "clusters": len(sandbox.kube_clusters),
                    "fleet_loaded": sandbox.fleet_loaded,
                }
            )
    if path == "/faults":
        if method == "GET":
            return _json({"faults": sandbox.faults.rules()})
        if method == "POST":
            return _json({"id": sandbox.faults.add_from_dict(_body(request))}, 201)
        if method == "DELETE":
            sandbox.faults.clear()
            return _json({"cleared": True})
    if method == "DELETE" and path.startswith("/faults/"):
        removed = sandbox.faults.remove(path.removeprefix("/faults/"))
        return _json({"removed": removed}, 200 if removed else 404)
    if method == "POST" and path in ("/addons/degrade", "/addons/heal"):
        spec = _body(request)
        with sandbox.transaction():
            account = spec.get("account") or moto_compat.DEFAULT_ACCOUNT_ID
            region = spec.get("region", "us-east-1")
            if path == "/addons/degrade":
                sandbox.eks.degrade_addon(
                    account,
                    region,
                    spec["cluster"],
                    spec["addon"],
                    spec.get("code", "InsufficientNumberOfReplicas"),
                    spec.get("message", "The add-on is unhealthy (injected by the sandbox)"),
                )
            else:
                sandbox.eks.heal_addon(account, region, spec["cluster"], spec["addon"])
        return _json({"ok": True})
    if method == "POST" and path == "/clock/skip":
        sandbox.clock.skip(timedelta(minutes=_skip_minutes(_body(request))))
        sandbox.advance()
        return _json({"simulated_now": sandbox.clock.now().isoformat()})
    if method == "POST" and path in ("/clock/pause", "/clock/resume"):
        if path == "/clock/pause":
            sandbox.clock.pause()
        else:
            sandbox.clock.resume()
            sandbox.advance()
        return _json({"paused": sandbox.clock.paused, "simulated_now": sandbox.clock.now().isoformat()})
    if method == "POST" and path == "/settle":
        sandbox.settle()
        return _json({"settled": True})
    if method == "POST" and path == "/fleet":
        summary = load_fleet(sandbox, yaml.safe_load(request.get_data(as_text=True)))
        return _json(summary, 201)
    return _json({"error": f"no sandbox endpoint {method} /_sandbox{path}"}, 404)


def _skip_minutes(body: dict[str, Any]) -> float:
    """``minutes`` of a clock skip, checked before the clock moves: simulated time never runs backwards, and a
    skip past datetime's range would break every later request."""
    minutes = body.get("minutes")
    if isinstance(minutes, bool) or not isinstance(minutes, int | float) or math.isnan(minutes):
        raise ValueError(f'clock/skip needs a number of minutes, e.g. {{"minutes": 60}}; got {minutes!r}')
    if not 0 <= minutes <= MAX_SKIP_MINUTES:
        raise ValueError(f"clock/skip minutes must be between 0 and {MAX_SKIP_MINUTES} (10 years); got {minutes}")
    return float(minutes)


def _body(request: Request) -> dict[str, Any]:
    document = json.loads(request.get_data(as_text=True) or "{}")
    if not isinstance(document, dict):
        raise ValueError("expected a JSON object")
    return document


def _json(document: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(document, default=str), status, content_type="application/json")
