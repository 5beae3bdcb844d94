"""TaskFlow task bodies, one module per runbook: Airflow context in, a small JSON-able result out."""
