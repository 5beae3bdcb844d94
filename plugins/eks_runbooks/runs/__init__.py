"""What every runbook run shares: the cluster claim, the report store, the run's note, the DAG policy."""
