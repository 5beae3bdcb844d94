"""The waiting steps of the Pod Identity migration: the agent on every node, and restarts verified per pod.

Both wait for Kubernetes rollouts in the triggerer (``KubernetesRolloutsTrigger``), holding no worker slot, and
read the cluster first: a retried task (its worker died) restarts nothing it already restarted — the restart
annotation carries the run id — and skips workloads whose pods are already verified.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSkipException

from eks_runbooks.core.pod_identity.estate import Credentials
from eks_runbooks.core.pod_identity.facts import load_pod_identity_facts
from eks_runbooks.core.pod_identity.plan import Action, Phase
from eks_runbooks.core.pod_identity.verify import workload_problems
from eks_runbooks.hooks.eks import EksRunbookHook
from eks_runbooks.operators.eks import default_request_token
from eks_runbooks.operators.upgrade import UpgradeApprovalOperator, poll_seconds
from eks_runbooks.readers.workload_changes import restart_workload, set_service_account_annotation
from eks_runbooks.runs.pod_identity_context import migration_clients, migration_request_of, plan_of
from eks_runbooks.runs.upgrade_context import AWS_RETRIES
from eks_runbooks.triggers.kubernetes import KubernetesRolloutsTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

    from eks_runbooks.core.pod_identity.request import MigrationRequest
    from eks_runbooks.runs.pod_identity_context import MigrationClients

#: This runbook's mark on a restarted pod template: which run restarted the workload, and why (a retried task
#: finds it and waits instead of restarting again).
RESTARTED_FOR = "eks-runbooks/restarted-for"
PROGRESS_KEY = "progress"
#: How long one wave (or the agent) may take to settle before the step fails naming what did not converge.
DEFAULT_ROLLOUT_TIMEOUT = timedelta(minutes=30)


class PodIdentityStepOperator(AwsBaseOperator[EksRunbookHook]):
    """
    A waiting step of an ``eks_pod_identity_migration`` run (base class).

    :param cluster_name: The name of the cluster. (templated)
    :param waiter_delay: Seconds between looks at the rollouts while deferred. (default: the Airflow Variable
        ``eks_upgrade_poll_seconds``, else 30; a rehearsal on the sandbox sets it to 1)
    :param rollout_timeout: How long one wave may take to settle. (default: 30 minutes)
    :param deferrable: Wait in the triggerer, holding no worker slot (default); False polls in the worker.
    :param aws_conn_id: The Airflow connection used for AWS credentials.
        If this is ``None`` or empty then the default boto3 behaviour is used.
    :param region_name: AWS region_name. If not specified then the default boto3 behaviour is used.
    :param verify: Whether or not to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for botocore client.
    """

    aws_hook_class = EksRunbookHook
    template_fields: Sequence[str] = aws_template_fields("cluster_name")

    def __init__(
        self,
        *,
        cluster_name: str,
        waiter_delay: float | None = None,
        rollout_timeout: timedelta = DEFAULT_ROLLOUT_TIMEOUT,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("botocore_config", AWS_RETRIES)
        super().__init__(**kwargs)
        self.cluster_name = cluster_name
        self.waiter_delay = waiter_delay
        self.rollout_timeout = rollout_timeout
        self.deferrable = deferrable

    def wait_for(self, context: Context, workloads: list[str]) -> Any:
        """Wait until the rollouts settle, then ``rollouts_settled``: in the triggerer or polling here."""
        delay = poll_seconds(self.waiter_delay)
        attempts = max(1, math.ceil(self.rollout_timeout.total_seconds() / delay))
        trigger = KubernetesRolloutsTrigger(
            cluster_name=self.cluster_name,
            workloads=workloads,
            waiter_delay=delay,
            waiter_max_attempts=attempts,
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            botocore_config=self.botocore_config,
        )
        if self.deferrable:
            self.defer(trigger=trigger, method_name="rollouts_settled")
        return self.rollouts_settled(context, _poll(trigger))

    def rollouts_settled(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError


def _poll(trigger: KubernetesRolloutsTrigger) -> dict[str, Any]:
    import time

    from eks_runbooks.readers.cluster import KubernetesReader
    from eks_runbooks.readers.rollouts import settled

    states: dict[str, str] = {}
    with trigger.client() as api_client:
        reader = KubernetesReader(api_client)
        for _attempt in range(trigger.waiter_max_attempts):
            time.sleep(trigger.waiter_delay)
            states = trigger.states(reader)
            if all(settled(state) for state in states.values()):
                return {"status": "success", "states": states}
    return {"status": "timeout", "states": states}


def _not_converged(cluster_name: str, event: dict[str, Any], what: str) -> str:
    waiting = {ref: state for ref, state in (event.get("states") or {}).items() if state != "complete"}
    listed = "; ".join(f"{ref}: {state}" for ref, state in waiting.items())
    return (
        f"{what} on cluster {cluster_name} did not settle in time — {listed}. Look at the pods "
        "(kubectl describe), fix the cause, then clear this task: it resumes without restarting anything twice."
    )


class EksPodIdentityAgentOperator(PodIdentityStepOperator):
    """
    Install the eks-pod-identity-agent add-on when it is missing, and wait until its DaemonSet is Ready on every
    node it belongs on. Skips in plan mode and in cleanup and rollback runs.
    """

    def execute(self, context: Context) -> Any:
        request = migration_request_of(context)
        if request.dry_run or request.phase is not Phase.MIGRATE:
            raise AirflowSkipException("The agent is prepared by migrate runs only (and never in plan mode)")
        facts = load_pod_identity_facts()
        hook = self.hook
        installed = {addon["addonName"] for addon in hook.describe_addons(self.cluster_name)}
        if facts.agent_addon not in installed:
            hook.create_addon(self.cluster_name, facts.agent_addon, default_request_token(context, facts.agent_addon))
            self.log.info("Installing the %s add-on on cluster %s", facts.agent_addon, self.cluster_name)
        return self.wait_for(context, [f"DaemonSet/{facts.agent_namespace}/{facts.agent_daemonset}"])

    def rollouts_settled(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        event = event or {}
        if event.get("status") != "success" or any(state != "complete" for state in event["states"].values()):
            raise AirflowFailException(_not_converged(self.cluster_name, event, "The Pod Identity agent"))
        return "the Pod Identity agent is Ready on every eligible node"


class EksPodIdentityRestartOperator(PodIdentityStepOperator):
    """
    Restart the planned workloads in waves of ``wave_size`` and verify every new pod: on Pod Identity (migrate)
    or IRSA (rollback), Ready, not crash-looping. In a migrate run, a service account whose workload fails
    verification is returned to IRSA on its own — association deleted, its workloads restarted and verified on
    IRSA — and reported; the others go on.
    """

    def execute(self, context: Context) -> Any:
        request = migration_request_of(context)
        if request.dry_run or request.phase is Phase.CLEANUP:
            raise AirflowSkipException("Nothing is restarted in plan mode or by cleanup")
        actions = (Action.MIGRATE, Action.RESTART) if request.phase is Phase.MIGRATE else (Action.ROLL_BACK,)
        accounts = {
            a["key"]: a
            for a in plan_of(context).get("service_accounts", [])
            if a["action"] in {str(x) for x in actions}
        }
        progress = {
            "run_id": context["ti"].run_id,
            "accounts": sorted(accounts),
            "returning": [],
            "results": {},
            "wave": [],
        }
        context["ti"].xcom_push(key=PROGRESS_KEY, value=progress)
        with migration_clients(request) as clients:
            return self._next_wave(context, request, progress, clients)

    def _expected(self, request: MigrationRequest, account_key: str, progress: dict[str, Any]) -> Credentials:
        if request.phase is Phase.ROLLBACK or account_key in progress["returning"]:
            return Credentials.IRSA
        return Credentials.POD_IDENTITY

    def _next_wave(
        self, context: Context, request: MigrationRequest, progress: dict[str, Any], clients: MigrationClients
    ) -> Any:
        """Restart the next ``wave_size`` workloads still to do (skipping verified ones), or finish."""
        pending = self._pending(clients, request, progress, context)
        wave = pending[: request.wave_size]
        for account_key, ref, restarted in wave:
            if not restarted:
                purpose = self._purpose(context, request, account_key, progress)
                restart_workload(clients.kube_api, ref, {RESTARTED_FOR: purpose})
        progress["wave"] = [[account_key, ref] for account_key, ref, _ in wave]
        context["ti"].xcom_push(key=PROGRESS_KEY, value=progress)
        if not wave:
            return self._finish(context, request, progress)
        self.log.info("Wave of %d workload(s): %s", len(wave), ", ".join(ref for _, ref, _ in wave))
        return self.wait_for(context, [ref for _, ref, _ in wave])

    def _purpose(self, context: Context, request: MigrationRequest, account_key: str, progress: dict[str, Any]) -> str:
        goal = "irsa" if self._expected(request, account_key, progress) is Credentials.IRSA else "pod-identity"
        return f"{context['ti'].run_id}/{goal}"

    def _pending(
        self, clients: MigrationClients, request: MigrationRequest, progress: dict[str, Any], context: Context
    ) -> list[tuple[str, str, bool]]:
        """(account, workload, already restarted by this run for this goal) for each workload not verified yet."""
        from eks_runbooks.readers.rollouts import workload_pods

        reader = clients.reader
        reader.forget_listed()
        pending = []
        for account_key in progress["accounts"]:
            namespace, name = account_key.split("/", 1)
            expected = self._expected(request, account_key, progress)
            for ref in _restartable_workloads(reader, namespace, name):
                if ref in progress["results"].get(account_key, {}).get("workloads", {}):
                    continue
                kind, ns, workload = ref.split("/", 2)
                pods = workload_pods(reader, kind, ns, workload) or []
                restarted = _restarted_for(reader, ref) == self._purpose(context, request, account_key, progress)
                if not restarted and not workload_problems(pods, expected):
                    self._record(progress, account_key, ref, pods, expected, "already verified")
                    continue
                pending.append((account_key, ref, restarted))
        return pending

    def _record(self, progress: dict, account_key: str, ref: str, pods: list, expected: Credentials, how: str) -> None:
        entry = progress["results"].setdefault(account_key, {"workloads": {}, "problems": []})
        entry["workloads"][ref] = f"{len(pods)} pod(s) on {expected}, Ready ({how})"

    def rollouts_settled(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        from eks_runbooks.readers.rollouts import workload_pods

        event = event or {}
        request = migration_request_of(context)
        progress = context["ti"].xcom_pull(task_ids=self.task_id, key=PROGRESS_KEY)
        if event.get("status") != "success":
            raise AirflowFailException(_not_converged(self.cluster_name, event, "Restarted workloads"))
        with migration_clients(request) as clients:
            reader = clients.reader
            for account_key, ref in progress["wave"]:
                kind, namespace, name = ref.split("/", 2)
                pods = workload_pods(reader, kind, namespace, name) or []
                expected = self._expected(request, account_key, progress)
                problems = workload_problems(pods, expected)
                if not problems:
                    self._record(progress, account_key, ref, pods, expected, "verified after restart")
                    continue
                entry = progress["results"].setdefault(account_key, {"workloads": {}, "problems": []})
                entry["problems"] += [f"{ref}: {problem}" for problem in problems]
                if request.phase is Phase.MIGRATE and account_key not in progress["returning"]:
                    self._return_to_irsa(clients, request, account_key, progress)
                else:
                    entry["workloads"][ref] = f"not verified: {'; '.join(problems)}"
            reader.forget_listed()
            return self._next_wave(context, request, progress, clients)

    def _return_to_irsa(
        self, clients: MigrationClients, request: MigrationRequest, account_key: str, progress: dict
    ) -> None:
        """A service account whose pods failed on Pod Identity: delete its association; its workloads are then
        restarted again (in the next waves) and verified on IRSA."""
        namespace, name = account_key.split("/", 1)
        for association in clients.eks.list_pod_identity_associations(request.cluster_name):
            if (association["namespace"], association["serviceAccount"]) == (namespace, name):
                clients.eks.delete_pod_identity_association(request.cluster_name, association["associationId"])
        problem = (progress["results"][account_key]["problems"] or ["failed verification"])[0]
        set_service_account_annotation(
            clients.kube_api,
            namespace,
            name,
            load_pod_identity_facts().returned_annotation,
            f"run {progress['run_id']}: {problem}"[:500],
        )
        progress["returning"].append(account_key)
        progress["results"][account_key]["workloads"] = {}
        self.log.warning("%s failed verification on Pod Identity; returning it to IRSA", account_key)

    def _finish(self, context: Context, request: MigrationRequest, progress: dict[str, Any]) -> dict[str, Any]:
        results = {}
        for account_key in progress["accounts"]:
            entry = progress["results"].get(account_key, {"workloads": {}, "problems": []})
            if account_key in progress["returning"]:
                outcome = "returned to IRSA after failing verification"
            elif entry["problems"]:
                outcome = "not verified"
            elif not entry["workloads"]:
                # CronJobs take the change at their next run; bare pods and Jobs are never deleted here.
                outcome = (
                    "associated, no workload restarted" if request.phase is Phase.MIGRATE else "no workload restarted"
                )
            else:
                outcome = "on Pod Identity, verified" if request.phase is Phase.MIGRATE else "back on IRSA, verified"
            results[account_key] = {
                "outcome": outcome,
                "evidence": [f"{ref}: {what}" for ref, what in sorted(entry["workloads"].items())] + entry["problems"],
            }
        failed = [key for key, result in results.items() if result["outcome"] == "not verified"]
        if failed:
            context["ti"].xcom_push(key="return_value", value=results)
            raise AirflowFailException(
                f"Workloads of {', '.join(failed)} on cluster {self.cluster_name} could not be verified: "
                + "; ".join(problem for key in failed for problem in progress["results"][key]["problems"])
            )
        return results


_APPS = {"Deployment": "deployment", "StatefulSet": "stateful_set", "DaemonSet": "daemon_set"}


def _restartable_workloads(reader: Any, namespace: str, name: str) -> list[str]:
    refs = []
    for kind in _APPS:
        for item in reader.list("apps/v1", kind):
            spec = ((item.get("spec") or {}).get("template") or {}).get("spec") or {}
            if item["metadata"]["namespace"] == namespace and (spec.get("serviceAccountName") or "default") == name:
                refs.append(f"{kind}/{namespace}/{item['metadata']['name']}")
    return refs


def _restarted_for(reader: Any, ref: str) -> str | None:
    kind, namespace, name = ref.split("/", 2)
    for item in reader.list("apps/v1", kind):
        if (item["metadata"]["namespace"], item["metadata"]["name"]) == (namespace, name):
            return (((item["spec"].get("template") or {}).get("metadata") or {}).get("annotations") or {}).get(
                RESTARTED_FOR
            )
    return None


class PodIdentityApprovalOperator(UpgradeApprovalOperator):
    """A person approves the migration plan before the first change (``require_approval``); see
    ``UpgradeApprovalOperator`` for what approve, reject and no answer do."""

    def _request(self, context: Context) -> MigrationRequest:
        return migration_request_of({**context, "params": self._run_params(context)})

    def _describe(self, request: Any) -> str:
        return f"Pod Identity {request.phase} of {request.cluster_name}"
