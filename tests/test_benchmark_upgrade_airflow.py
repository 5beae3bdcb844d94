"""scripts/benchmark_upgrade_airflow.py reads executions and hand-offs from Airflow's logs as they are written."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import REPO


@pytest.fixture
def script(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    return importlib.import_module("benchmark_upgrade_airflow")


def at(seconds: float) -> datetime:
    return datetime(2026, 1, 1, 12, 0, tzinfo=UTC) + timedelta(seconds=seconds)


def stamp(seconds: float) -> str:
    return at(seconds).isoformat().replace("+00:00", "Z")


def task_line(seconds: float, event: str) -> dict[str, str]:
    return {"timestamp": stamp(seconds), "event": event, "logger": "task"}


def test_a_deferred_then_resumed_task_shows_two_executions_and_its_trigger_lines_are_not_one(script):
    log = [
        {"event": "::group::Log message source details"},
        task_line(0.0, "::group::Pre Execute"),
        task_line(0.4, "::endgroup::"),
        task_line(0.9, "::group::Post Execute"),
        task_line(0.9, "Pausing task as DEFERRED. "),
        task_line(1.0, "::endgroup::"),
        {"timestamp": stamp(2.0), "event": "trigger eks_cluster_upgrade/r/t/-1/1 (ID 1) starting", "logger": None},
        {"timestamp": stamp(5.0), "event": "Trigger fired event", "logger": None},
        task_line(7.0, "::group::Pre Execute"),
        task_line(7.5, "::endgroup::"),
        {"timestamp": stamp(7.6), "event": "::endgroup::", "logger": None},
        task_line(8.0, "::group::Post Execute"),
        task_line(8.1, "::endgroup::"),
    ]

    executions = script.executions_of("hop_1.addons", log)

    assert [(e.started, e.code_started, e.ended) for e in executions] == [
        (at(0.0), at(0.4), at(1.0)),
        (at(7.0), at(7.5), at(8.1)),
    ]


def test_a_resume_is_ready_when_the_trigger_saw_the_update_end_and_a_first_start_when_upstream_ended(script):
    Execution = script.Execution
    executions = [
        Execution("plan", at(0.0), at(0.2), at(1.0)),
        Execution("hop_1.control_plane", at(3.0), at(3.2), at(4.0)),
        Execution("hop_1.control_plane", at(12.0), at(12.3), at(13.0)),
    ]
    service_lines = [
        f"{stamp(2.0)} [info     ] Trying to enqueue tasks: [<TaskInstance: eks_cluster_upgrade.hop_1.control_plane "
        "r [scheduled] ti_id=1>] for executor: CeleryExecutor(parallelism=8) [airflow.jobs]",
        f"{stamp(2.5)} [info     ] [abc] Executing workload in Celery: dag_rel_path=PurePosixPath('x.py') "
        "log_path='dag_id=eks_cluster_upgrade/run_id=r/task_id=hop_1.control_plane/attempt=1.log'",
        f"{stamp(11.0)} [info     ] Trying to enqueue tasks: [<TaskInstance: eks_cluster_upgrade.hop_1.control_plane "
        "r [scheduled] ti_id=1>] for executor: CeleryExecutor(parallelism=8) [airflow.jobs]",
        f"{stamp(11.2)} [info     ] [def] Executing workload in Celery: dag_rel_path=PurePosixPath('x.py') "
        "log_path='dag_id=eks_cluster_upgrade/run_id=r/task_id=hop_1.control_plane/attempt=1.log'",
    ]
    polls = [script.bench.Interval("update-1", at(9.5), at(10.0))]

    hand_offs = script.hand_offs_of(executions, polls, service_lines, at(0.0))

    first_start, resume = hand_offs
    assert (first_start.ready, first_start.enqueued, first_start.taken) == (at(1.0), at(2.0), at(2.5))
    assert (resume.ready, resume.enqueued, resume.taken) == (at(10.0), at(11.0), at(11.2))


def test_each_celery_worker_and_backing_service_keeps_a_name_of_its_own_in_the_cpu_table(script):
    names = [
        script.process_name(["airflow", "celery", "worker", "--celery-hostname", f"worker-{n}@%h"]) for n in (1, 2)
    ]
    names.append(script.process_name(["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/postgres", "-D"]))
    names.append(script.process_name(["/usr/bin/redis-server", "/tmp/state/redis/redis.conf"]))
    names.append(script.process_name(["airflow", "scheduler"]))

    assert names == [
        "airflow celery worker worker-1",
        "airflow celery worker worker-2",
        "postgres",
        "redis-server",
        "airflow scheduler",
    ]
