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
        path = request.path.removeprefix("/_sandbox")
        # A trailing slash is forgiven, except on DELETE: `DELETE /faults/` (an empty rule id) must not clear
        # every rule as `DELETE /faults` does.
        route = (request.method, (path if request.method == "DELETE" else path.rstrip("/")) or "/")
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
    handler = _ROUTES.get(route)
    if handler is not None:
        return handler(sandbox, request)
    method, path = route
    if method == "DELETE" and path.startswith("/faults/"):
        return _remove_fault(sandbox, path.removeprefix("/faults/"))
    return _json({"error": f"no sandbox endpoint {method} /_sandbox{path}"}, 404)


def _health(sandbox: Sandbox, request: Request) -> Response:
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


def _list_faults(sandbox: Sandbox, request: Request) -> Response:
    return _json({"faults": sandbox.faults.rules()})


def _add_fault(sandbox: Sandbox, request: Request) -> Response:
    return _json({"id": sandbox.faults.add_from_dict(_body(request))}, 201)


def _clear_faults(sandbox: Sandbox, request: Request) -> Response:
    sandbox.faults.clear()
    return _json({"cleared": True})


def _remove_fault(sandbox: Sandbox, rule_id: str) -> Response:
    removed = sandbox.faults.remove(rule_id)
    return _json({"removed": removed}, 200 if removed else 404)


def _degrade_addon(sandbox: Sandbox, request: Request) -> Response:
    spec = _body(request)
    with sandbox.transaction():
        sandbox.eks.degrade_addon(
            *_addon_of(spec),
            spec.get("code", "InsufficientNumberOfReplicas"),
            spec.get("message", "The add-on is unhealthy (injected by the sandbox)"),
        )
    return _json({"ok": True})


def _heal_addon(sandbox: Sandbox, request: Request) -> Response:
    spec = _body(request)
    with sandbox.transaction():
        sandbox.eks.heal_addon(*_addon_of(spec))
    return _json({"ok": True})


def _addon_of(spec: dict[str, Any]) -> tuple[str, str, str, str]:
    """Account, region, cluster and add-on named by a degrade/heal request body."""
    account = spec.get("account") or moto_compat.DEFAULT_ACCOUNT_ID
    return account, spec.get("region", "us-east-1"), spec["cluster"], spec["addon"]


def _skip_clock(sandbox: Sandbox, request: Request) -> Response:
    sandbox.clock.skip(timedelta(minutes=_skip_minutes(_body(request))))
    sandbox.advance()
    return _json({"simulated_now": sandbox.clock.now().isoformat()})


def _pause_clock(sandbox: Sandbox, request: Request) -> Response:
    sandbox.clock.pause()
    return _clock_state(sandbox)


def _resume_clock(sandbox: Sandbox, request: Request) -> Response:
    sandbox.clock.resume()
    sandbox.advance()
    return _clock_state(sandbox)


def _clock_state(sandbox: Sandbox) -> Response:
    return _json({"paused": sandbox.clock.paused, "simulated_now": sandbox.clock.now().isoformat()})


def _settle(sandbox: Sandbox, request: Request) -> Response:
    sandbox.settle()
    return _json({"settled": True})


def _load_fleet(sandbox: Sandbox, request: Request) -> Response:
    summary = load_fleet(sandbox, yaml.safe_load(request.get_data(as_text=True)))
    return _json(summary, 201)


#: (method, path under /_sandbox) → handler; ``DELETE /faults/<id>`` is the one path with a parameter.
_ROUTES: dict[tuple[str, str], Callable[[Sandbox, Request], Response]] = {
    ("GET", "/"): _health,
    ("GET", "/health"): _health,
    ("GET", "/faults"): _list_faults,
    ("POST", "/faults"): _add_fault,
    ("DELETE", "/faults"): _clear_faults,
    ("POST", "/addons/degrade"): _degrade_addon,
    ("POST", "/addons/heal"): _heal_addon,
    ("POST", "/clock/skip"): _skip_clock,
    ("POST", "/clock/pause"): _pause_clock,
    ("POST", "/clock/resume"): _resume_clock,
    ("POST", "/settle"): _settle,
    ("POST", "/fleet"): _load_fleet,
}


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
