"""Settings every Airflow component loads at start-up (``import airflow`` imports this module).

1. The runbook DAG policy: a DAG without documentation, owner, tags or retries policy is refused.
2. Parse-time warm-up: the DAG processor forks a child per DAG file, and a child only inherits what the
   parent had imported. Importing the runbook operators and Airflow's TaskFlow machinery here, once, keeps
   each DAG file's own parse under 50 ms instead of paying ~0.5 s of boto3/provider/decorator imports per
   file, per parse.

Every component — scheduler, API server, DAG processor, triggerer, workers — imports this module, and an
exception here stops it. So nothing here may raise: a library module that fails to import is logged (with its
traceback) and skipped; the DAG files that need it then show the import error in the UI, and the rest of
Airflow keeps running.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

#: Airflow copies every public name of this module into ``airflow.settings``: only the policy goes there.
__all__ = ["dag_policy"]

log = logging.getLogger(__name__)

#: What DAG files take from ``airflow.sdk`` (resolved lazily there, so resolve them here) ...
WARM_UP_SDK_NAMES = (
    "DAG",
    "dag",
    "task",
    "task_group",
    "TaskGroup",
    "chain",
    "Param",
    "get_current_context",
    "TriggerRule",
)
#: ... what those load on first use (TaskFlow's operator, schedules, Variables), and the runbook adapters.
WARM_UP_MODULES = (
    "airflow.providers.standard.decorators.python",
    "airflow.sdk.definitions.decorators.setup_teardown",
    "airflow.sdk.definitions.timetables.interval",
    "airflow.models.variable",
    "airflow.timetables.base",
    "airflow.serialization.definitions.assets",
    "eks_runbooks.runs.policies",
    "eks_runbooks.operators.eks",
    "eks_runbooks.operators.upgrade",
    "eks_runbooks.notifiers.ticketing",
    "eks_runbooks.tasks.upgrade",
)


def warm_up() -> list[str]:
    """Import what DAG files use; returns the modules that failed to import (each logged), never raises."""
    failed = []
    for module in WARM_UP_MODULES:
        try:
            importlib.import_module(module)
        except Exception:
            # Deliberately broad: a broken library must cost its DAGs, not every Airflow component.
            log.exception(
                "Warm-up: could not import %s; DAG files that use it will show this as an import error", module
            )
            failed.append(module)
    try:
        sdk = importlib.import_module("airflow.sdk")
        for name in WARM_UP_SDK_NAMES:
            getattr(sdk, name)
    except Exception:
        log.exception("Warm-up: could not resolve airflow.sdk names; DAG files will parse more slowly")
        failed.append("airflow.sdk")
    return failed


# When the runbook library itself is what imports Airflow (a script or test importing a hook first), it is
# being loaded already; importing it again from here would re-enter its half-initialised modules.
if not any(name.startswith("eks_runbooks.") for name in sys.modules):
    warm_up()


def dag_policy(dag: Any) -> None:
    """Refuse runbook DAGs that do not declare documentation, owner, tags and a retries policy."""
    from airflow.exceptions import AirflowClusterPolicyViolation

    from eks_runbooks.runs.policies import runbook_dag_problems

    problems = runbook_dag_problems(dag)
    if problems:
        raise AirflowClusterPolicyViolation(f"DAG {dag.dag_id} is not a complete runbook: {'; '.join(problems)}")
