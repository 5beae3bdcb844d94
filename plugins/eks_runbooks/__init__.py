"""EKS runbook library: the domain core (``core``, no Airflow imports) and its Airflow adapters.

Layers, outermost first: ``dags/`` compose runbooks from the ``operators`` and ``triggers`` here; those are thin
adapters (provider style, built on ``AwsBaseOperator[EksHook]``) that fetch state from AWS and Kubernetes,
call ``core`` to decide, act, and push a small result to XCom.
"""
