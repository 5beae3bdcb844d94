# The runbooks' Airflow image: the official Airflow image plus exactly the pinned lock file.
FROM apache/airflow:3.3.2-python3.11

COPY --chown=airflow:root requirements.lock pyproject.toml README.md /opt/eks-runbooks/
COPY --chown=airflow:root plugins /opt/eks-runbooks/plugins
COPY --chown=airflow:root sandbox /opt/eks-runbooks/sandbox
RUN pip install --no-cache-dir --require-hashes -r /opt/eks-runbooks/requirements.lock \
 && pip install --no-cache-dir --no-deps /opt/eks-runbooks
