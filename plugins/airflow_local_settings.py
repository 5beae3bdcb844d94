"""Settings every Airflow component loads at start-up (``import airflow`` imports this module).

1. The runbook DAG policy: a DAG without documentation, owner, tags or retries policy is refused.
2. Parse-time warm-up: the DAG processor forks a child per DAG file, and a child only inherits what the
   parent had imported. Importing the runbook operators and Airflow's TaskFlow machinery here, once, keeps
   each DAG file's own parse under 50 ms instead of paying ~0.5 s of boto3/provider/decorator imports per
   file, per parse.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag as _dag  # noqa: F401  (warm-up, see module docstring)
from airflow.sdk import task as _task  # noqa: F401  (warm-up, see module docstring)

import eks_runbooks.operators.eks  # noqa: F401  (warm-up, see module docstring)
import eks_runbooks.sensors.eks  # noqa: F401  (warm-up, see module docstring)
from eks_runbooks.policies import runbook_dag_problems


def dag_policy(dag: Any) -> None:
    """Refuse runbook DAGs that do not declare documentation, owner, tags and a retries policy."""
    from airflow.exceptions import AirflowClusterPolicyViolation

    problems = runbook_dag_problems(dag)
    if problems:
        raise AirflowClusterPolicyViolation(f"DAG {dag.dag_id} is not a complete runbook: {'; '.join(problems)}")
