"""Notifiers for runbook DAGs' ``on_success_callback``/``on_failure_callback`` (Airflow ``BaseNotifier``)."""
