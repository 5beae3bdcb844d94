"""Shared test harness: a fresh Airflow home and metadata DB per session, and the EKS fleet simulator.

Environment is set before anything imports Airflow (Airflow reads its configuration at import time).
Fixtures:

- ``airflow_db`` — the session's fresh metadata DB (reset once, lazily: pure unit tests never pay for it);
- ``sandbox`` — an in-process simulator served on an ephemeral loopback port, fresh for each test, its world
  starting on ``WORLD_DATE`` (the demo fleet's ``as_of``), with ``AWS_ENDPOINT_URL`` and the ``aws_default``
  connection (the runbooks' role, ``RUNBOOK_ROLE_ARN``) and ``aws_platform_admin`` (the fleet's administrators)
  pointing at it;
- ``demo_fleet`` — ``sandbox`` with ``include/sandbox/fleets/demo.yaml`` loaded;
- ``sandbox_process`` — a real ``eks-sandbox serve`` process with the demo fleet (session-scoped), for the
  AWS CLI, kubectl and anything else that must talk to the server as users do.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    DEMO_FLEET,
    PLATFORM_ADMIN_ROLE_ARN,
    REPO,
    REPORTED_FIGURES,
    TEST_TIME_SCALE,
    VENV_BIN,
    WORLD_DATE,
    aws_connection_uri,
    serving_sandbox,
    share_aws_managed_policies,
)
from tests.xdist_groups import pytest_collection_modifyitems  # noqa: F401  (a hook: an xdist group on one worker)

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="eks-runbooks-airflow-home-"))
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        # The runbooks' "today" is the simulated world's date (eks_runbooks.core.clock), in every process.
        "EKS_RUNBOOKS_AS_OF": WORLD_DATE.isoformat(),
        # The EksHook kubeconfig's exec plugin runs `python3.X` from PATH: it must be this interpreter.
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
)
for leaked in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(leaked, None)


def _share_botocore_models() -> None:
    """Parse each botocore data file once per test process, not once per boto3 session.

    Airflow's AWS hooks make a session per hook and the sandbox's fleet loader one per account and region, and each
    session's loader parsed the same JSON models again: a fifth of the CPU a demo fleet load costs. A loader keeps
    what it parsed in ``_cache`` (shared by all the clients of its session, never changed by botocore once built);
    loaders with the same search paths now share it.
    """
    from botocore import loaders

    caches: dict[tuple[Any, ...], dict[Any, Any]] = {}
    original_init = loaders.Loader.__init__

    def init(self: loaders.Loader, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        key = (tuple(self.search_paths), tuple(self.extras_types), type(self.file_loader))
        self._cache = caches.setdefault(key, {})

    loaders.Loader.__init__ = init


_share_botocore_models()


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    """A fresh, empty Airflow metadata DB for this test session."""
    from airflow.utils import db

    db.resetdb()
    yield


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """A fresh simulated fleet (empty), served in-process on an ephemeral loopback port."""
    from eks_sandbox.moto_compat import reset_moto
    from eks_sandbox.server import SandboxServer
    from eks_sandbox.world import Sandbox

    share_aws_managed_policies()
    reset_moto()
    world = Sandbox(time_scale=TEST_TIME_SCALE, start=WORLD_DATE)
    server = SandboxServer(world, port=0).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_uri(server.url))
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_PLATFORM_ADMIN", aws_connection_uri(server.url, role_arn=PLATFORM_ADMIN_ROLE_ARN)
    )
    try:
        yield world
    finally:
        server.stop()
        reset_moto()


@pytest.fixture
def fast_dag_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shorter naps, same order of events, for ``dag.test()`` runs of whole runbooks.

    ``dag.test()`` idles 1 s whenever no task is ready, and a failure reaches the tasks after it one scheduling
    pass at a time; AWS retry back-offs sleep too.
    """
    real_sleep = time.sleep
    monkeypatch.setattr(time, "sleep", lambda seconds: real_sleep(min(seconds, 0.05)))


@pytest.fixture
def demo_fleet(sandbox):
    """The in-process sandbox with the demo fleet loaded (clusters ACTIVE, nodes Ready)."""
    import yaml

    from eks_sandbox.fleet import load_fleet

    load_fleet(sandbox, yaml.safe_load(DEMO_FLEET.read_text()))
    return sandbox


@pytest.fixture(scope="session")
def sandbox_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``eks-sandbox serve --fleet demo.yaml`` process; yields its endpoint URL."""
    with serving_sandbox(tmp_path_factory.mktemp("eks-sandbox") / "serve.log") as url:
        yield url


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: its figures are printed by the controller
        workeroutput["reported_figures"] = REPORTED_FIGURES


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    REPORTED_FIGURES.extend(tuple(figure) for figure in node.workeroutput.get("reported_figures", []))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for title, lines in REPORTED_FIGURES:
        terminalreporter.write_sep("-", title)
        for line in lines:
            terminalreporter.write_line(line)
