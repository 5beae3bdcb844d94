"""Settings every Airflow component loads at start-up (``import airflow`` imports this module).

1. The runbook DAG policy: a DAG without documentation, owner, tags or retries policy is refused.
2. Parse-time warm-up: the DAG processor forks a child per DAG file, and a child only inherits what the
   parent had imported. Importing the runbook operators and Airflow's TaskFlow machinery here, once, keeps
   each DAG file's own parse under 50 ms instead of paying ~0.5 s of boto3/provider/decorator imports per
   file, per parse.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

# When the runbook library itself is what imports Airflow (a script or test importing a hook first), it is
# being loaded already; importing it again from here would re-enter its half-initialised modules.
_LIBRARY_IS_LOADING = any(name.startswith("eks_runbooks.") for name in sys.modules)

from eks_runbooks.runs.policies import runbook_dag_problems  # noqa: E402  (after the check above, on purpose)

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
    "eks_runbooks.operators.eks",
    "eks_runbooks.operators.upgrade",
    "eks_runbooks.notifiers.ticketing",
    "eks_runbooks.tasks.upgrade",
)

if not _LIBRARY_IS_LOADING:
    _sdk = importlib.import_module("airflow.sdk")
    for _name in WARM_UP_SDK_NAMES:
        getattr(_sdk, _name)
    for _module in WARM_UP_MODULES:
        importlib.import_module(_module)


def dag_policy(dag: Any) -> None:
    """Refuse runbook DAGs that do not declare documentation, owner, tags and a retries policy."""
    from airflow.exceptions import AirflowClusterPolicyViolation

    problems = runbook_dag_problems(dag)
    if problems:
        raise AirflowClusterPolicyViolation(f"DAG {dag.dag_id} is not a complete runbook: {'; '.join(problems)}")
