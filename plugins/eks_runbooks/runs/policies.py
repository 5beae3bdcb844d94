"""What every runbook DAG must declare before it may run (enforced as an Airflow cluster policy).

A runbook that mutates production clusters must say what it is (``doc_md``), who owns it, how to find it
(tags) and what happens when a step fails transiently (``retries``). ``airflow_local_settings.dag_policy``
rejects DAGs that do not; the DAG-integrity test checks the same rules.
"""

from __future__ import annotations

from typing import Any


def runbook_dag_problems(dag: Any) -> list[str]:
    """Everything a DAG is missing to be a runbook; an empty list when it is complete."""
    problems = []
    if not (dag.doc_md or "").strip():
        problems.append("no doc_md (use the module docstring: doc_md=__doc__)")
    if not dag.tags:
        problems.append("no tags")
    # Airflow gives every task retries=0 when nothing is said, so "no policy" is only visible in default_args.
    if "retries" not in (dag.default_args or {}):
        problems.append("no retries policy (set default_args['retries'], 0 included, on purpose)")
    for task in dag.tasks:
        if not task.owner or task.owner == "airflow":
            problems.append(f"task {task.task_id} has no owner (set default_args['owner'])")
    return problems
