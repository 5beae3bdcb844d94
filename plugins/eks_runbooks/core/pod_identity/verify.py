"""Proof, per pod, that a workload switched: the credentials its SDK uses, Ready, not crash-looping."""

from __future__ import annotations

from collections.abc import Sequence

from eks_runbooks.core.pod_identity.estate import Credentials, PodView


def pod_problems(pod: PodView, expected: Credentials) -> list[str]:
    """What is wrong with one pod after a restart; empty when it is verified."""
    problems = []
    if pod.credentials is not expected:
        problems.append(f"pod {pod.name} uses {pod.credentials}, not {expected}")
    if pod.failing:
        problems.append(f"pod {pod.name}: container(s) {', '.join(pod.failing)} crash-looping")
    elif not pod.ready:
        problems.append(f"pod {pod.name} is not Ready")
    return problems


def workload_problems(pods: Sequence[PodView], expected: Credentials) -> list[str]:
    """What keeps a restarted workload from being verified on ``expected`` credentials; empty when every pod is."""
    if not pods:
        return ["no pod runs"]
    return [problem for pod in pods for problem in pod_problems(pod, expected)]


def has_failing_pods(pods: Sequence[PodView]) -> bool:
    """Whether a rollout is failing rather than progressing: one of its pods crash-loops."""
    return any(pod.failing for pod in pods)
