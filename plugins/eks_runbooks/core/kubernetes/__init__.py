"""Kubernetes rules shared by runbooks: removed apiVersions and Helm release storage."""
