"""The audit's check functions, one per entry of include/checks/compliance.yaml (importing registers them)."""

from eks_runbooks.core.audit.checks import addons, control_plane, kubernetes, nodes  # noqa: F401
