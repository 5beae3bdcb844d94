"""The building steps of an ``eks_cluster_bootstrap`` run: each sends its planned calls, then proves its gate.

A step sends exactly the calls plan mode printed (``core.bootstrap.calls``), through ``hooks.bootstrap.send``:
repeated tokens and this runbook's tags make a retried or resumed step pick up what exists instead of making a
second cluster, node group or key. Then it waits in the triggerer until what it created is ACTIVE
(``EksCreationTrigger``) and checks the gate — the API answers, nodes Ready, add-on workloads available — before
the next step may start. A failed gate names the cluster, the step, what EKS or Kubernetes said, and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSkipException
from airflow.sdk import BaseOperator

from eks_runbooks.core.bootstrap import calls as planned
from eks_runbooks.hooks.bootstrap import bootstrap_clients
from eks_runbooks.operators.upgrade import UpgradeApprovalOperator, poll_seconds
from eks_runbooks.runs.bootstrap_context import bootstrap_request_of, resolved_of

if TYPE_CHECKING:
    from airflow.sdk import Context

    from eks_runbooks.core.bootstrap.calls import Resolved
    from eks_runbooks.core.bootstrap.request import BootstrapRequest

SENT_KEY = "sent"
#: How long what one step creates may take to become ACTIVE (EKS: a control plane ~10 min, node groups ~5 min).
DEFAULT_CREATION_TIMEOUT = timedelta(minutes=40)


class BootstrapStepFailed(AirflowFailException):
    """A gate did not pass. Not retried: the cause needs a person; clearing the task resumes the step."""


def created_refs(step: str, request: BootstrapRequest) -> list[str]:
    """What a step waits for until ACTIVE, as ``EksCreationTrigger`` refs."""
    if step == "control_plane":
        return ["cluster"]
    if step == "compute":
        return [f"nodegroup/{nodegroup.name}" for nodegroup in request.compute]
    if step == "addons_before_compute":
        return [f"addon/{name}" for name in request.addons_before_compute]
    if step == "addons_after_compute":
        return [f"addon/{name}" for name in request.addons_after_compute]
    return []


class EksBootstrapStepOperator(BaseOperator):
    """
    One building step of a bootstrap: send its planned calls, wait until what they made is ACTIVE, prove the gate.
    Skips in plan mode.

    :param step: One of ``core.bootstrap.calls.STEPS``.
    :param waiter_delay: Seconds between looks while deferred (default: the Airflow Variable
        ``eks_upgrade_poll_seconds``, else 30; a rehearsal on the sandbox sets it to 1).
    :param creation_timeout: How long what the step made may take to become ACTIVE.
    :param deferrable: Wait in the triggerer, holding no worker slot (default); False polls in the worker.
    """

    template_fields: Sequence[str] = ()

    def __init__(
        self,
        *,
        step: str,
        waiter_delay: float | None = None,
        creation_timeout: timedelta = DEFAULT_CREATION_TIMEOUT,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("task_id", step)
        super().__init__(**kwargs)
        if step not in planned.STEPS:
            raise ValueError(f"{step!r} is not a building step ({', '.join(planned.STEPS)})")
        self.step = step
        self.waiter_delay = waiter_delay
        self.creation_timeout = creation_timeout
        self.deferrable = deferrable

    def execute(self, context: Context) -> Any:
        request = bootstrap_request_of(context)
        if request.dry_run:
            raise AirflowSkipException("Plan mode: the pre-flight lists this step's requests; nothing is sent")
        resolved = resolved_of(context)
        clients = bootstrap_clients(request.aws_conn_id, request.region)
        sent, made = self._send(context, request, resolved, clients)
        refs = created_refs(self.step, request)
        if not refs:
            return self._finish(context, request, resolved, sent, made, {})
        return self._wait(context, request, refs)

    def _send(
        self, context: Context, request: BootstrapRequest, resolved: Resolved, clients: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """Send the step's calls, recording each outcome as it comes (a call that fails leaves the ones before it
        in the report), and wrapping a refusal with the cluster and the step."""
        from eks_runbooks.hooks.bootstrap import BootstrapCallFailed, NotThisRunbooksResource, ensure_key, send

        made: dict[str, str] = {}
        sent: list[dict[str, Any]] = []
        try:
            if self.step == "identity" and resolved.kms_key_arn is None:
                create = next(c for c in planned.step_calls(request, resolved, self.step) if c.operation == "CreateKey")
                key_arn, outcome = ensure_key(clients, create, planned.kms_alias_name(request), request.cluster_name)
                self._record(context, sent, outcome)
                made["kms_key_arn"] = key_arn
                resolved = planned.with_kms_key(resolved, key_arn)
            for call in planned.step_calls(request, resolved, self.step):
                if call.operation != "CreateKey":
                    self.log.info("Bootstrap %s, step %s: %s", request.cluster_name, self.step, call.describe())
                    self._record(context, sent, send(clients, call))
        except (BootstrapCallFailed, NotThisRunbooksResource) as error:
            raise BootstrapStepFailed(
                f"Bootstrap of {request.cluster_name}, step {self.step}: {error} What this step made is in the "
                "report; once fixed, clear this task: it resumes with what exists."
            ) from None
        return sent, made

    @staticmethod
    def _record(context: Context, sent: list[dict[str, Any]], outcome: dict[str, Any]) -> None:
        sent.append(outcome)
        context["ti"].xcom_push(key=SENT_KEY, value=sent)

    def _wait(self, context: Context, request: BootstrapRequest, refs: list[str]) -> Any:
        from eks_runbooks.triggers.eks import EksCreationTrigger

        delay = poll_seconds(self.waiter_delay)
        trigger = EksCreationTrigger(
            cluster_name=request.cluster_name,
            resources=refs,
            waiter_delay=delay,
            waiter_max_attempts=max(1, math.ceil(self.creation_timeout.total_seconds() / delay)),
            aws_conn_id=request.aws_conn_id,
            region_name=request.region,
        )
        if self.deferrable:
            self.defer(trigger=trigger, method_name="created")
        return self.created(context, _poll(trigger, request))

    def created(self, context: Context, event: dict[str, Any]) -> Any:
        """Resumed when what the step made is ACTIVE, failed, or out of time: prove the gate."""
        request = bootstrap_request_of(context)
        sent = context["ti"].xcom_pull(task_ids=self.task_id, key=SENT_KEY) or []
        return self._finish(context, request, resolved_of(context), sent, {}, event)

    def _finish(
        self,
        context: Context,
        request: BootstrapRequest,
        resolved: Resolved,
        sent: list[dict[str, Any]],
        made: dict[str, str],
        event: dict[str, Any],
    ) -> dict[str, Any]:
        from eks_runbooks.readers.bootstrap_gates import gate_evidence

        problems = _creation_problems(event, created_refs(self.step, request))
        evidence = [f"{ref}: {state['status']}" for ref, state in (event.get("states") or {}).items()]
        if not problems:
            more_evidence, problems = gate_evidence(self.step, request, resolved, poll_seconds(self.waiter_delay))
            evidence += more_evidence
        result = {"step": self.step, "sent": sent, **made, "gate": {"evidence": evidence, "problems": problems}}
        if problems:
            context["ti"].xcom_push(key="return_value", value=result)
            raise BootstrapStepFailed(
                f"Bootstrap of {request.cluster_name}, step {self.step}: {'; '.join(problems)}. Fix the cause, then "
                "clear this task: it resumes with what exists (the report lists it)."
            )
        return result


def _creation_problems(event: dict[str, Any], refs: list[str]) -> list[str]:
    """What keeps the step's resources from counting as created: failed, not ACTIVE in time, never seen."""
    states: dict[str, dict[str, Any]] = event.get("states") or {}
    problems = [f"{ref} was never seen (every look at it failed)" for ref in refs if ref not in states]
    for ref, state in states.items():
        if state["status"] == "ACTIVE":
            continue
        issues = "; ".join(
            f"{issue.get('code')}: {issue.get('message')} ({', '.join(issue.get('resourceIds') or []) or 'no ids'})"
            for issue in state.get("issues") or []
        )
        problems.append(f"{ref} is {state['status']}" + (f" — {issues}" if issues else ""))
    return problems


def _poll(trigger: Any, request: BootstrapRequest) -> dict[str, Any]:
    import time

    from eks_runbooks.hooks.eks import EksRunbookHook
    from eks_runbooks.triggers.eks import creation_over

    hook = EksRunbookHook(aws_conn_id=request.aws_conn_id, region_name=request.region)
    states: dict[str, dict[str, Any]] = {}
    for _attempt in range(trigger.waiter_max_attempts):
        time.sleep(trigger.waiter_delay)
        states = hook.creation_states(request.cluster_name, trigger.resources)
        if creation_over(states):
            break
    return {"states": states}


class BootstrapApprovalOperator(UpgradeApprovalOperator):
    """A person approves the bootstrap plan before the first change (``require_approval``); see
    ``UpgradeApprovalOperator`` for what approve, reject and no answer do."""

    def _request(self, context: Context) -> BootstrapRequest:
        return bootstrap_request_of({**context, "params": self._run_params(context)})

    def _describe(self, request: Any) -> str:
        return f"bootstrap of {request.cluster_name}"
