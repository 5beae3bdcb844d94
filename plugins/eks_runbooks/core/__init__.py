"""The Airflow-free domain core: plain data in, plain data (plans, findings, decisions) out."""
