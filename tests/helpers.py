"""Helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEMO_FLEET = REPO / "include" / "sandbox" / "fleets" / "demo.yaml"
VENV_BIN = Path(sys.executable).parent

#: Simulated durations run this much faster in tests: a 10-minute control-plane update takes 0.6 s.
TEST_TIME_SCALE = 0.001

#: Figures tests want shown at the end of the run (for example DAG parse times), as (title, lines).
REPORTED_FIGURES: list[tuple[str, list[str]]] = []

_MEASURE_PARSE = """
import importlib.util, json, sys, time
import airflow  # noqa: F401
results = {}
for path in sys.argv[1:]:
    start = time.perf_counter()
    spec = importlib.util.spec_from_file_location("dag_" + str(len(results)), path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    results[path] = (time.perf_counter() - start) * 1000
print(json.dumps(results))
"""


def dag_parse_times(dag_files: list[Path], env: dict[str, str]) -> dict[str, float]:
    """Milliseconds each DAG file takes to parse in an interpreter that has done ``import airflow``.

    That is what the DAG processor pays per file: it forks a child per parse from a parent that imported
    Airflow (and, through ``airflow_local_settings``, warmed the runbook library). ``env`` must point
    ``AIRFLOW__CORE__PLUGINS_FOLDER`` at plugins/.
    """
    output = subprocess.run(
        [sys.executable, "-c", _MEASURE_PARSE, *map(str, dag_files)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    return {Path(path).name: ms for path, ms in json.loads(output.strip().splitlines()[-1]).items()}


def aws_connection_uri(endpoint_url: str, region: str = "us-east-1") -> str:
    """An ``aws`` Airflow connection (JSON form) that sends every AWS call to the sandbox."""
    return json.dumps(
        {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"endpoint_url": endpoint_url, "region_name": region},
        }
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float = 60.0, process: subprocess.Popen | None = None) -> None:
    """Wait until ``url`` answers at all (any status), failing early if ``process`` died."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def sandbox_control(base_url: str, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    """Call the sandbox control API ``/_sandbox{path}``; returns (status, JSON answer), error statuses included.

    ``body`` is sent as JSON, or as-is when it is already text (a fleet file's YAML).
    """
    data = body.encode() if isinstance(body, str) else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base_url}/_sandbox{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
