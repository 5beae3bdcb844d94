"""What a valid name looks like, for every input a runbook takes from the UI, the REST API or a ticket.

The DAG files use the pattern strings in their Params (the trigger form and the REST API refuse a bad value
before a run starts); the runbooks' request parsers use the compiled patterns on the same strings.
"""

from __future__ import annotations

import re

#: EKS cluster names: 1 to 100 characters, a letter or digit first [botocore EKS model, CreateClusterRequest.name].
CLUSTER_NAME_PATTERN = r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$"
#: AWS regions, the GovCloud and ISO partitions included (us-gov-west-1, us-iso-east-1, us-isob-east-1).
REGION_PATTERN = r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$"
#: Airflow connection ids.
CONNECTION_ID_PATTERN = r"^[A-Za-z0-9_.\-]{1,250}$"
#: Kubernetes minor versions as EKS names them (1.33).
KUBERNETES_VERSION_PATTERN = r"^1\.\d{2}$"
#: Ticket ids become part of the dag_run_id: letters, digits, '-', '_', '.' only.
TICKET_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
#: Cluster definitions (include/clusters/<name>.yaml, Variable eks_cluster_definitions): lower-case names.
DEFINITION_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"
#: Check ids of every catalogue: UPPER-KEBAB (EKS-IMDSV2, K8S-REMOVED-APIS).
CHECK_ID_PATTERN = r"^[A-Z0-9]+(-[A-Z0-9]+)+$"

#: AWS resource tag keys: 1 to 128 characters of letters, digits, spaces and _.:/=+-@ [botocore EKS model, TagKey;
#: the IAM user guide's tag naming rules, ASCII only here].
TAG_KEY_PATTERN = r"^[A-Za-z0-9 _.:/=+\-@]{1,128}$"

#: Kubernetes namespace names (RFC 1123 labels) and ``namespace/name`` service accounts (RFC 1123 subdomains).
NAMESPACE_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
SERVICE_ACCOUNT_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"

CLUSTER_NAME = re.compile(CLUSTER_NAME_PATTERN)
NAMESPACE = re.compile(NAMESPACE_PATTERN)
SERVICE_ACCOUNT = re.compile(SERVICE_ACCOUNT_PATTERN)
REGION = re.compile(REGION_PATTERN)
CONNECTION_ID = re.compile(CONNECTION_ID_PATTERN)
CHECK_ID = re.compile(CHECK_ID_PATTERN)
TICKET_ID = re.compile(TICKET_ID_PATTERN)
TAG_KEY = re.compile(TAG_KEY_PATTERN)
