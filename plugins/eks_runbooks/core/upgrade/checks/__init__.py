"""The pre-flight checks of an upgrade hop, one small function per entry of include/checks/upgrade-preflight.yaml.

Importing the package registers every check (``registry.PREFLIGHT_CHECKS``); ``eks_runbooks.core.upgrade.preflight``
runs them against the catalogue.
"""

from eks_runbooks.core.upgrade.checks import addons, cluster, nodes, workloads

__all__ = ["addons", "cluster", "nodes", "workloads"]
