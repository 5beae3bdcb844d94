"""Benchmark Airflow's own cost per mapped task instance: a no-op DAG of the audits' shape under ``dag.test()``.

    .venv/bin/python scripts/benchmark_airflow_tasks.py [--width 500] [--baseline 20] [--batch 1] > tasks.md

The DAG has the nightly audits' shape with no work in it: ``discover`` returns ``width`` cluster refs,
``audit.expand(...)`` maps one task instance over each (``max_active_tis_per_dagrun=16``, returning a result of
about the size of one cluster's audit result), ``report`` pulls them all. With ``--batch N`` the clusters are
grouped N to a task instance, as a batched audit would. The run goes through ``dag.test()`` in this process (a
throw-away AIRFLOW_HOME and sqlite DB, as ``benchmark_audit.py``), once at ``width`` and once at ``baseline``;
the marginal cost per cluster is the slope between the two: (wall(width) - wall(baseline)) / (width - baseline),
and the same for the process's CPU. That is the part of a per-cluster audit's marginal wall time Airflow takes
before any AWS call. Airflow's logs go to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmark_audit import cpu_seconds, gc_meter, logs_to_stderr, machine_line, percentile
from benchmark_upgrade import in_throwaway_airflow_home

DAG_FILE = Path(__file__).resolve().parent / "noop_fleet_dag.py"


@dataclass
class NoopRun:
    """One no-op run: its width, task instances, wall and CPU seconds, GC seconds, per-TI durations."""

    width: int
    batch: int
    wall_seconds: float
    cpu_seconds: float
    gc_seconds: float
    mapped_seconds: list[float]


def run_noop(width: int, batch: int) -> NoopRun:
    """``dag.test()`` of the no-op DAG in a fresh DB; a run that does not succeed stops the benchmark."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    db.resetdb()
    dag = DagBag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag("noop_fleet")
    gc.collect()
    with gc_meter() as collector:
        cpu_start, start = cpu_seconds(), time.perf_counter()
        run = dag.test(run_conf={"width": width, "batch": batch})
        wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    if run.state != "success":
        raise RuntimeError(f"the no-op run of width {width} ended {run.state}")
    mapped = [(ti.end_date - ti.start_date).total_seconds() for ti in run.get_task_instances() if ti.task_id == "audit"]
    return NoopRun(width, batch, wall, cpu, collector["seconds"], mapped)


def markdown(runs: list[NoopRun], load: tuple[float, float]) -> str:
    """One column per run, then the slope between the first two (per cluster and per task instance)."""
    rows: list[tuple[str, Callable[[NoopRun], str]]] = [
        ("clusters / mapped task instances", lambda r: f"{r.width} / {len(r.mapped_seconds)}"),
        ("DagRun wall time (`dag.test()`, serial)", lambda r: f"{r.wall_seconds:.1f} s"),
        ("process CPU time", lambda r: f"{r.cpu_seconds:.1f} s"),
        ("of which Python's cyclic GC", lambda r: f"{r.gc_seconds:.1f} s"),
        (
            "mapped task instance run time p50 / p95 / max",
            lambda r: (
                f"{statistics.median(r.mapped_seconds) * 1000:.0f} / "
                f"{percentile(r.mapped_seconds, 0.95) * 1000:.0f} / {max(r.mapped_seconds) * 1000:.0f} ms"
            ),
        ),
        ("wall per mapped task instance (mean)", lambda r: f"{r.wall_seconds / len(r.mapped_seconds) * 1000:.0f} ms"),
    ]
    lines = [
        "| measure | " + " | ".join(f"width {r.width}, batch {r.batch}" for r in runs) + " |",
        "|---" * (len(runs) + 1) + "|",
    ]
    lines += [f"| {label} | " + " | ".join(cell(r) for r in runs) + " |" for label, cell in rows]
    if len(runs) == 2:
        large, small = runs
        clusters = large.width - small.width
        tis = len(large.mapped_seconds) - len(small.mapped_seconds)
        wall, cpu = large.wall_seconds - small.wall_seconds, large.cpu_seconds - small.cpu_seconds
        lines += [
            "",
            f"Marginal cost (slope between the two runs): {wall / clusters * 1000:.0f} ms wall and "
            f"{cpu / clusters * 1000:.0f} ms CPU per cluster; {wall / tis * 1000:.0f} ms wall and "
            f"{cpu / tis * 1000:.0f} ms CPU per mapped task instance.",
        ]
    return "\n".join([f"## Airflow's cost per mapped task (no-op), {machine_line(*load)}", "", *lines])


def benchmark(width: int, baseline: int, batch: int) -> int:
    load_before = os.getloadavg()[0]
    with logs_to_stderr() as results_out:
        runs = [run_noop(size, batch) for size in ([width, baseline] if baseline else [width])]
        print(markdown(runs, (load_before, os.getloadavg()[0])), file=results_out)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=500, help="clusters in the big run (default 500)")
    parser.add_argument("--baseline", type=int, default=20, help="clusters in the small run (default 20, 0: none)")
    parser.add_argument("--batch", type=int, default=1, help="clusters per mapped task instance (default 1)")
    args = parser.parse_args()
    if args.width < 1 or args.baseline < 0 or args.batch < 1:
        parser.error("--width and --batch must be at least 1, --baseline at least 0")
    return in_throwaway_airflow_home(
        None, lambda: in_own_dags_folder(lambda: benchmark(args.width, args.baseline, args.batch))
    )


def in_own_dags_folder(run: Callable[[], int]) -> int:
    """``run()`` with a dags folder holding only the no-op DAG (``dag.test()`` syncs the whole folder first), set
    before Airflow is imported."""
    dags = Path(os.environ["AIRFLOW_HOME"]) / "dags"
    dags.mkdir()
    shutil.copy(DAG_FILE, dags / DAG_FILE.name)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    return run()


if __name__ == "__main__":
    sys.exit(main())
