"""The steps of one upgrade hop, as operators: pre-flight, control plane, add-ons, node groups, validation.

Each step is one task of a hop's task group in ``eks_cluster_upgrade``. Every step:

- finds its hop in the run's plan (XCom of the ``plan`` task) and skips when the plan has fewer hops;
- reads the run's options from its params (``runs.upgrade_context.upgrade_request_of``) and, in plan mode
  (``dry_run``), skips every step that would change the cluster;
- reads AWS state first and does only what is left (a resumed run or a cleared task skips finished work,
  and attaches to an update already InProgress instead of starting another);
- waits for EKS in the triggerer (``EksUpdatesTrigger``), holding no worker slot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    SkipMixin,
)
from airflow.providers.standard.operators.hitl import ApprovalOperator

from eks_runbooks.core.eks.updates import UpdateRef
from eks_runbooks.hooks.eks import EksRunbookHook
from eks_runbooks.operators.eks import EksUpdateFailedError, default_request_token, failure_message
from eks_runbooks.runs.upgrade_context import AWS_RETRIES, hop_of, upgrade_request_of
from eks_runbooks.triggers.eks import EksUpdatesTrigger, ended_updates, still_in_progress

if TYPE_CHECKING:
    from airflow.sdk import Context

    from eks_runbooks.core.upgrade.plan import Hop
    from eks_runbooks.core.upgrade.request import UpgradeRequest

DEFAULT_POLL_SECONDS = 30
#: The pre-flight check that reads EKS upgrade insights: accepting it lets UpdateClusterVersion use ``force``.
INSIGHTS_CHECK_ID = "EKS-INSIGHTS-UPGRADE-READINESS"
#: DescribeUpdate calls per wait when the step cannot size the wait from the work (90 minutes at 30 s).
DEFAULT_MAX_ATTEMPTS = 180
#: XCom keys of a step that waits: what it finished so far, and the updates it waits on (they outlive a
#: deferral; ``dag.test()`` resumes a deferred task without the kwargs it deferred with).
DONE_KEY = "done"
WAITING_KEY = "waiting"


class UpgradeStepOperator(AwsBaseOperator[EksRunbookHook]):
    """
    One step of hop ``hop_number`` of an ``eks_cluster_upgrade`` run (base class).

    :param cluster_name: The name of the cluster. (templated)
    :param hop_number: Which hop of the plan (1-based); the step skips when the plan has fewer hops.
    :param mutates: Whether the step changes the cluster (then it skips in plan mode).
    :param waiter_delay: Seconds between DescribeUpdate calls while deferred. (default: the Airflow Variable
        ``eks_upgrade_poll_seconds``, else 30; a rehearsal on the sandbox sets it to 1)
    :param waiter_max_attempts: DescribeUpdate calls before giving up on one wait. (default: sized from the work
        where a step knows it — a node group roll from its node count and updateConfig — else 180)
    :param deferrable: Wait for EKS updates in the triggerer, holding no worker slot (default); False polls in
        the worker, with the same delay, attempts and outcome.
    :param aws_conn_id: The Airflow connection used for AWS credentials.
        If this is ``None`` or empty then the default boto3 behaviour is used. If
        running Airflow in a distributed manner and aws_conn_id is None or
        empty, then default boto3 configuration would be used (and must be
        maintained on each worker node).
    :param region_name: AWS region_name. If not specified then the default boto3 behaviour is used.
    :param verify: Whether or not to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for botocore client.
        (default: ``runs.upgrade_context.AWS_RETRIES``, botocore's standard retry mode with 10 attempts)
    """

    aws_hook_class = EksRunbookHook
    template_fields: Sequence[str] = aws_template_fields("cluster_name")
    mutates = True

    def __init__(
        self,
        *,
        cluster_name: str,
        hop_number: int,
        waiter_delay: float | None = None,
        waiter_max_attempts: int | None = None,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("botocore_config", AWS_RETRIES)
        super().__init__(**kwargs)
        self.cluster_name = cluster_name
        self.hop_number = hop_number
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.deferrable = deferrable

    def execute(self, context: Context) -> Any:
        request = upgrade_request_of(context)
        hop = hop_of(context, self.hop_number)
        self.waiter_delay = poll_seconds(self.waiter_delay)
        if self.mutates and request.dry_run:
            raise AirflowSkipException(
                f"Plan mode (dry_run): {self.task_id} of hop {hop.from_version} → {hop.to_version} would change "
                f"cluster {self.cluster_name}; skipped"
            )
        return self.run_step(context, request, hop, [])

    def run_step(self, context: Context, request: UpgradeRequest, hop: Hop, done: list[str]) -> Any:
        """Do what is left of the step; ``done`` lists what earlier deferrals of this task finished."""
        raise NotImplementedError

    def wait_until_one_ends(
        self, context: Context, updates: list[UpdateRef], done: list[str], budget: timedelta | None = None
    ) -> Any:
        """Wait until one of ``updates`` ends, then go on
        in ``updates_ended``: in the triggerer (``deferrable``, the default), or polling in the worker with the
        same ``waiter_delay`` and attempts and the same outcome check. ``budget``: how long the work may take,
        which sizes the attempts unless ``waiter_max_attempts`` was given."""
        attempts = self.waiter_max_attempts or (
            math.ceil(budget.total_seconds() / self.waiter_delay) if budget else DEFAULT_MAX_ATTEMPTS
        )
        for ref in updates:
            self.log.info(
                "Waiting for EKS update %s of the %s of cluster %s", ref.update_id, ref.target, self.cluster_name
            )
        context["ti"].xcom_push(key=WAITING_KEY, value=[ref.to_dict() for ref in updates])
        if not self.deferrable:
            return self.updates_ended(context, self._poll_until_one_ends(updates, attempts), done)
        self.defer(
            trigger=EksUpdatesTrigger(
                cluster_name=self.cluster_name,
                updates=[ref.to_dict() for ref in updates],
                waiter_delay=self.waiter_delay,
                waiter_max_attempts=attempts,
                aws_conn_id=self.aws_conn_id,
                region_name=self.region_name,
                verify=self.verify,
                botocore_config=self.botocore_config,
            ),
            method_name="updates_ended",
            kwargs={"done": done},
            timeout=timedelta(seconds=self.waiter_delay * (attempts + 1)),
        )

    def _poll_until_one_ends(self, updates: list[UpdateRef], attempts: int) -> dict[str, Any]:
        """The event the trigger would have fired, from polling in the worker."""
        import time

        for _attempt in range(attempts):
            time.sleep(self.waiter_delay)
            statuses = self.hook.update_statuses(self.cluster_name, updates)
            if ended := ended_updates(updates, statuses):
                return {"status": "success", "ended": ended}
        return {"status": "error", "message": still_in_progress(self.cluster_name, updates, attempts)}

    def updates_ended(
        self, context: Context, event: dict[str, Any] | None = None, done: list[str] | None = None
    ) -> Any:
        """Resume after the trigger: fail on an update that did not succeed, else carry on with the step."""
        if not event or event.get("status") != "success":
            raise AirflowException(
                f"Cluster {self.cluster_name}, {self.task_id}: "
                f"{(event or {}).get('message', 'the wait for EKS ended without an event')}. The update may "
                "still be running: clear this task to attach to it again."
            )
        ti = context["ti"]
        done = list(ti.xcom_pull(task_ids=self.task_id, key=DONE_KEY) or done or [])
        self.waiter_delay = poll_seconds(self.waiter_delay)
        for ref in self._ended(event, ti.xcom_pull(task_ids=self.task_id, key=WAITING_KEY) or []):
            done.append(self.raise_unless_successful(ref))
        ti.xcom_push(key=DONE_KEY, value=done)
        return self.run_step(context, upgrade_request_of(context), hop_of(context, self.hop_number), done)

    def _ended(self, event: dict[str, Any], waiting: list[dict[str, Any]]) -> list[UpdateRef]:
        """The updates the event says ended, plus any other update waited on that ended since (two node
        groups finishing together must both be recorded, not only the one the trigger saw first)."""
        ended = [UpdateRef.from_dict(update) for update in event["ended"]]
        others = [ref for ref in map(UpdateRef.from_dict, waiting) if ref not in ended]
        if others:
            ended += [
                UpdateRef.from_dict(u)
                for u in ended_updates(others, self.hook.update_statuses(self.cluster_name, others))
            ]
        return ended

    def raise_unless_successful(self, update: UpdateRef) -> str:
        """Fail the step with EKS's error codes when the update did not succeed; else describe what it did."""
        described = self.hook.describe_update(self.cluster_name, update)
        target = update.target
        if described["status"] != "Successful":
            raise EksUpdateFailedError(failure_message(self.cluster_name, target, described, self.explain(described)))
        params = {param["type"]: param["value"] for param in described.get("params", [])}
        moved_to = params.get("Version") or params.get("AddonVersion") or params.get("ReleaseVersion") or ""
        self.log.info("EKS update %s of the %s of cluster %s is Successful", described["id"], target, self.cluster_name)
        return f"{target} → {moved_to}".strip()

    def explain(self, update: dict[str, Any]) -> str:
        """What the cluster shows about why ``update`` failed, beyond EKS's error codes ("" when nothing)."""
        return ""

    def request_token(
        self,
        context: Context,
        update_type: str,
        param: str,
        value: str,
        nodegroup_name: str | None = None,
        addon_name: str | None = None,
    ) -> str:
        """An idempotency token for one update of this task instance (≤ 64 chars): the same for every try while
        no attempt at this update has ended Failed, so a retried task gets the update it already started instead
        of a second one; a new one after each Failed attempt, so clearing the task after a failure starts a new
        update instead of being handed the failed one again (EKS answers a repeated token with its first update).
        """
        from eks_runbooks.core.eks.updates import failed_attempts

        recent = self.hook.recent_updates(self.cluster_name, nodegroup_name, addon_name)
        failed = failed_attempts(recent, update_type, param, value)
        token = default_request_token(context, *(part for part in (nodegroup_name, addon_name) if part), value)
        return token + (f"-{failed}" if failed else "")

    def in_progress_update(
        self, update_type: str, nodegroup_name: str | None = None, addon_name: str | None = None
    ) -> dict[str, Any] | None:
        """The update of this type already InProgress on the cluster (or its node group/add-on), if any.

        Call it only for a target whose status is UPDATING: it lists and describes recent updates.
        """
        return next(
            (
                update
                for update in self.hook.recent_updates(self.cluster_name, nodegroup_name, addon_name)
                if update["status"] == "InProgress" and update["type"] == update_type
            ),
            None,
        )


def poll_seconds(waiter_delay: float | None) -> float:
    """``waiter_delay`` when given, else the Variable ``eks_upgrade_poll_seconds`` (default 30 s)."""
    from airflow.sdk import Variable

    if waiter_delay is not None:
        return waiter_delay
    return float(Variable.get("eks_upgrade_poll_seconds", default=DEFAULT_POLL_SECONDS))


class EksUpgradePreflightOperator(UpgradeStepOperator, SkipMixin):
    """
    The gates of one hop: read the cluster (AWS and Kubernetes), run the pre-flight catalogue, and stop the
    run before its control plane update on a blocking finding.

    In plan mode the findings are recorded and the run goes on to the next hop's gates; hops after the first
    are judged as if the earlier hops were done (the cluster's version projected to the hop's start). When
    the plan has fewer hops, this task ends skipped, and with it every step of its hop group.

    Pushes ``preflight`` (the findings, summary and Markdown) and ``workloads`` (the availability baseline
    the hop's validation compares against) to XCom.
    """

    mutates = False
    inherits_from_skipmixin = True

    def execute(self, context: Context) -> Any:
        # A hop the plan does not use: hop_of skips this task, and Airflow skips the group's steps after it.
        result = super().execute(context)
        if upgrade_request_of(context).dry_run:
            # Nothing of this hop will change: skip its steps now, so the next hop's gates run at once.
            group = f"{self.task_group.group_id}." if self.task_group and self.task_group.group_id else ""
            self.skip(
                ti=context["ti"],
                tasks=[t for t in self.get_flat_relatives(upstream=False) if t.task_id.startswith(group) and group],
            )
        return result

    def run_step(self, context: Context, request: UpgradeRequest, hop: Hop, done: list[str]) -> dict[str, Any]:
        from eks_runbooks.core.upgrade.preflight import (
            load_preflight_catalogue,
            project_to_hop_start,
            render_preflight_markdown,
            run_preflight,
        )
        from eks_runbooks.core.upgrade.report import addon_versions_after
        from eks_runbooks.readers.cluster import KubernetesReader, gather_preflight_inputs, read_workload_snapshot
        from eks_runbooks.readers.kube_client import eks_kubernetes_client

        with eks_kubernetes_client(self.cluster_name, hook=self.hook) as api_client:
            kube = KubernetesReader(api_client)
            inputs = gather_preflight_inputs(
                self.hook,
                kube,
                self.cluster_name,
                hop,
                force_node_drain=request.force_node_drain,
                waiter_delay=self.waiter_delay,
            )
            workloads = read_workload_snapshot(kube)
        # Plan mode, a later hop: judge it as if the earlier hops were done.
        projected = request.dry_run and inputs.cluster.get("version") != hop.from_version
        if projected:
            earlier = context["ti"].xcom_pull(task_ids="plan")["hops"][: self.hop_number - 1]
            inputs = project_to_hop_start(inputs, addon_versions_after(earlier))
        result = run_preflight(inputs, load_preflight_catalogue(), request.ignore_checks)
        markdown = render_preflight_markdown(result)
        if projected:
            markdown += (
                f"\n_Projected: the cluster runs {context['ti'].xcom_pull(task_ids='plan')['current_version']} "
                f"today; this hop was judged as if the earlier hops were done._\n"
            )
        ti = context["ti"]
        ti.xcom_push(key="preflight", value={**result.as_dict(), "projected": projected, "markdown": markdown})
        ti.xcom_push(key="workloads", value={key: [state.desired, state.available] for key, state in workloads.items()})
        self.log.info("%s\n\n%s", result.summary, markdown)
        evidence = [
            f"{finding.check_id}: {finding.detail}" + (f" [{', '.join(finding.objects)}]" if finding.objects else "")
            for finding in result.blocking
        ]
        for line in evidence:
            self.log.warning("Blocking finding, hop %s → %s: %s", hop.from_version, hop.to_version, line)
        if result.blocking and not request.dry_run:
            details = "; ".join(evidence)
            raise AirflowFailException(
                f"{result.summary}. {details}. The control plane was not touched. Fix these (the report says how), "
                f"or list a check in ignore_checks to accept the risk, then clear this task or start a new run."
            )
        return {"summary": result.summary}


class EksUpgradeControlPlaneOperator(UpgradeStepOperator):
    """
    UpdateClusterVersion to the hop's version — or nothing when the control plane already runs it, or attach
    to an update to that version already InProgress. Fails with EKS's error codes when the update fails.

    EKS refuses the update (InvalidStateException) while an upgrade insight for the version is in ERROR, unless
    ``force``: the step passes ``force`` only when the run accepted ``EKS-INSIGHTS-UPGRADE-READINESS`` in
    ``ignore_checks`` (and says so in its result); otherwise it stops naming the insights, as a pre-flight gate.
    """

    def run_step(self, context: Context, request: UpgradeRequest, hop: Hop, done: list[str]) -> dict[str, Any]:
        from eks_runbooks.core.eks.versions import minor_of

        forced = INSIGHTS_CHECK_ID in request.ignore_checks
        cluster = self.hook.get_cluster(self.cluster_name)
        if minor_of(cluster["version"]) >= minor_of(hop.to_version):
            note = f" (started with force: {INSIGHTS_CHECK_ID} accepted in ignore_checks)" if forced and done else ""
            return {"summary": f"control plane at {cluster['version']}" + ("" if done else " (already)") + note}
        in_flight = self.in_progress_update("VersionUpdate") if cluster["status"] == "UPDATING" else None
        if in_flight is not None:
            version = {p["type"]: p["value"] for p in in_flight.get("params", [])}.get("Version")
            if version != hop.to_version:
                raise AirflowFailException(
                    f"Cluster {self.cluster_name} has update {in_flight['id']} to {version} InProgress, not to "
                    f"{hop.to_version}; wait for it to end, then clear this task."
                )
            self.log.info("Attaching to update %s to %s already InProgress", in_flight["id"], version)
            update = in_flight
        else:
            update = self._start_version_update(context, hop, forced)
        return self.wait_until_one_ends(context, [UpdateRef(update["id"])], done)

    def _start_version_update(self, context: Context, hop: Hop, forced: bool) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        if forced:
            self.log.warning(
                "Cluster %s: %s is accepted in ignore_checks, so UpdateClusterVersion to %s is sent with force "
                "(EKS then overrides upgrade insights in ERROR)",
                self.cluster_name,
                INSIGHTS_CHECK_ID,
                hop.to_version,
            )
        try:
            return self.hook.start_update(
                "update_cluster_version",
                {
                    "name": self.cluster_name,
                    "version": hop.to_version,
                    "clientRequestToken": self.request_token(context, "VersionUpdate", "Version", hop.to_version),
                    **({"force": True} if forced else {}),
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "InvalidStateException":
                raise
            raise AirflowFailException(self._refused_for_insights(hop, error)) from None

    def _refused_for_insights(self, hop: Hop, error: Exception) -> str:
        """EKS's refusal as a pre-flight finding: the insights in ERROR for the hop's version, and the way out."""
        insights = [
            insight
            for insight in self.hook.describe_insights(self.cluster_name, ["UPGRADE_READINESS"])
            if insight.get("kubernetesVersion") == hop.to_version
            and (insight.get("insightStatus") or {}).get("status") == "ERROR"
        ]
        named = "; ".join(
            f"{insight['name']} ({insight['id']})"
            + (f": {reason}" if (reason := (insight.get("insightStatus") or {}).get("reason")) else "")
            for insight in insights
        )
        return (
            f"Cluster {self.cluster_name}, control plane {hop.from_version} → {hop.to_version}: EKS refused "
            f"UpdateClusterVersion (InvalidStateException) — {INSIGHTS_CHECK_ID}: "
            + (f"upgrade insight(s) in ERROR for {hop.to_version}: {named}" if insights else str(error))
            + ". The control plane was not touched. Fix them (`aws eks describe-insight --cluster-name "
            f"{self.cluster_name} --id <id>` says how) and refresh the insights (`aws eks start-insights-refresh`), "
            f"or list {INSIGHTS_CHECK_ID} in ignore_checks to accept the risk (the runbook then passes force), "
            "then clear this task or start a new run."
        )


class EksUpgradeAddonsOperator(UpgradeStepOperator):
    """
    Move each installed managed add-on to its version for the hop (``core.upgrade.plan.plan_addon_steps``),
    one UpdateAddon at a time, each waited for in the triggerer. ``after_nodegroups`` selects the add-ons
    that follow the node groups (kube-proxy) instead of those that precede them.

    :param after_nodegroups: This step moves the add-ons that wait for the node groups.
    """

    def __init__(self, *, after_nodegroups: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.after_nodegroups = after_nodegroups

    def run_step(self, context: Context, request: UpgradeRequest, hop: Hop, done: list[str]) -> dict[str, Any]:
        from eks_runbooks.core.upgrade.plan import load_addon_rules, plan_addon_steps

        addons = self.hook.describe_addons(self.cluster_name)
        self._raise_on_unhealthy(addons)
        for addon in (addon for addon in addons if addon["status"] == "UPDATING"):
            in_flight = self.in_progress_update("AddonUpdate", addon_name=addon["addonName"])
            if in_flight is not None:
                self.log.info(
                    "Attaching to update %s of add-on %s already InProgress", in_flight["id"], addon["addonName"]
                )
                return self.wait_until_one_ends(
                    context, [UpdateRef(in_flight["id"], addon_name=addon["addonName"])], done
                )
        steps = [
            step
            for step in plan_addon_steps(
                self.cluster_name,
                {addon["addonName"]: addon["addonVersion"] for addon in addons},
                hop.to_version,
                self.hook.describe_addon_versions(hop.to_version),
                load_addon_rules(),
                request.addon_version_policy,
            )
            if step.after_nodegroups == self.after_nodegroups
        ]
        if not steps:
            return {"summary": "; ".join(done) if done else "add-ons already at their versions for " + hop.to_version}
        step = steps[0]
        self.log.info("Add-on %s: %s → %s", step.addon_name, step.from_version, step.to_version)
        update = self.hook.start_update(
            "update_addon",
            {
                "clusterName": self.cluster_name,
                "addonName": step.addon_name,
                "addonVersion": step.to_version,
                "resolveConflicts": request.addon_conflicts.value,
                "clientRequestToken": self.request_token(
                    context, "AddonUpdate", "AddonVersion", step.to_version, addon_name=step.addon_name
                ),
            },
        )
        return self.wait_until_one_ends(context, [UpdateRef(update["id"], addon_name=step.addon_name)], done)

    def _raise_on_unhealthy(self, addons: list[dict[str, Any]]) -> None:
        unhealthy = [addon for addon in addons if addon["status"] in ("DEGRADED", "UPDATE_FAILED", "CREATE_FAILED")]
        if unhealthy:
            issues = "; ".join(
                f"{addon['addonName']} is {addon['status']}: "
                + (
                    ", ".join(f"{i.get('code')}: {i.get('message')}" for i in addon.get("health", {}).get("issues", []))
                    or "no health issue reported"
                )
                for addon in unhealthy
            )
            raise AirflowFailException(
                f"Cluster {self.cluster_name}: {issues}. Fix the add-on (`aws eks describe-addon` shows its health), "
                "then clear this task."
            )


class EksUpgradeNodegroupsOperator(UpgradeStepOperator):
    """
    Roll every managed node group to the hop's version, ``nodegroup_parallelism`` at a time (a run option),
    waiting in the triggerer. Node groups already at the version are left alone; an update InProgress is
    attached to; a failed roll (PodEvictionFailure: a PodDisruptionBudget refused the drain) stops the run
    naming the PDBs, their namespaces and the pods they protect, read from the cluster (EKS names only the
    nodes). Node groups on a custom AMI are a manual step: the step fails naming them once the others are done.
    """

    def run_step(self, context: Context, request: UpgradeRequest, hop: Hop, done: list[str]) -> dict[str, Any]:
        from eks_runbooks.core.eks.versions import minor_of

        nodegroups = self.hook.describe_nodegroups(self.cluster_name)
        behind = [ng for ng in nodegroups if minor_of(ng["version"]) < minor_of(hop.to_version)]
        manual = [ng for ng in behind if ng.get("amiType") == "CUSTOM"]
        rolling = []
        for nodegroup in behind:
            if nodegroup in manual or nodegroup["status"] != "UPDATING":
                continue
            in_flight = self.in_progress_update("VersionUpdate", nodegroup_name=nodegroup["nodegroupName"])
            if in_flight is not None:
                rolling.append(UpdateRef(in_flight["id"], nodegroup_name=nodegroup["nodegroupName"]))
        waiting = [
            ng
            for ng in behind
            if ng not in manual and ng["nodegroupName"] not in {ref.nodegroup_name for ref in rolling}
        ]
        for nodegroup in waiting[: max(0, request.nodegroup_parallelism - len(rolling))]:
            name = nodegroup["nodegroupName"]
            self.log.info("Node group %s: %s → %s", name, nodegroup["version"], hop.to_version)
            update = self.hook.start_update(
                "update_nodegroup_version",
                {
                    "clusterName": self.cluster_name,
                    "nodegroupName": name,
                    "version": hop.to_version,
                    "clientRequestToken": self.request_token(
                        context, "VersionUpdate", "Version", hop.to_version, nodegroup_name=name
                    ),
                    **({"force": True} if request.force_node_drain else {}),
                },
            )
            rolling.append(UpdateRef(update["id"], nodegroup_name=name))
        if rolling:
            return self.wait_until_one_ends(context, rolling, done, budget=_roll_budget(nodegroups, rolling))
        if manual:
            raise AirflowFailException(
                f"Cluster {self.cluster_name}: node group(s) {', '.join(_with_template(ng) for ng in manual)} run a "
                f"custom AMI, which EKS cannot move to {hop.to_version}. Build an AMI for Kubernetes {hop.to_version}, "
                "create a launch template version with it, update the node group to that version "
                "(`aws eks update-nodegroup-version --launch-template ...`), then clear this task."
            )
        return {"summary": "; ".join(done) if done else f"node groups already at {hop.to_version}"}

    def explain(self, update: dict[str, Any]) -> str:
        """For a PodEvictionFailure, the PodDisruptionBudgets that refuse the drain of the nodes EKS names, and
        the pods they protect: EKS's message names neither (aws/containers-roadmap#1282)."""
        from eks_runbooks.core.upgrade.checks.workloads import find_drain_blockers
        from eks_runbooks.readers.cluster import KubernetesReader
        from eks_runbooks.readers.kube_client import eks_kubernetes_client

        nodes = [
            node
            for error in update.get("errors", [])
            if error.get("errorCode") == "PodEvictionFailure"
            for node in error.get("resourceIds") or []
        ]
        if not nodes:
            return ""
        with eks_kubernetes_client(self.cluster_name, hook=self.hook) as api_client:
            kube = KubernetesReader(api_client)
            blockers = find_drain_blockers(
                kube.list("policy/v1", "PodDisruptionBudget"), kube.list("v1", "Pod"), kube.list("v1", "Node"), nodes
            )
        if not blockers:
            return f"No PodDisruptionBudget refuses evictions from {', '.join(nodes)} now; look at the pods left there"
        return "Blocking the drain: " + "; ".join(
            f"{blocker.describe()} (`kubectl -n {blocker.namespace} edit pdb {blocker.name}`)" for blocker in blockers
        )


def _roll_budget(nodegroups: list[dict[str, Any]], rolling: list[UpdateRef]) -> timedelta:
    """How long the longest of the rolls under way may take (``core.eks.updates.nodegroup_roll_timeout``)."""
    from eks_runbooks.core.eks.updates import nodegroup_roll_timeout

    names = {ref.nodegroup_name for ref in rolling}
    return max(nodegroup_roll_timeout(ng) for ng in nodegroups if ng["nodegroupName"] in names)


def _with_template(nodegroup: dict[str, Any]) -> str:
    template = nodegroup.get("launchTemplate", {})
    return f"{nodegroup['nodegroupName']} (launch template {template.get('name') or template.get('id')})"


class EksUpgradeValidateOperator(UpgradeStepOperator):
    """
    Is the hop done? Control plane and every node at the version, kube-system DaemonSets rolled and ready,
    CoreDNS ready, add-ons ACTIVE and healthy, no workload newly unavailable against the pre-flight baseline
    (``core.upgrade.validation.validate_hop``). Rollouts take time after kube-proxy's update and the drain, so
    it looks again every ``waiter_delay`` until they converge, for at most ``convergence_timeout``; then it fails
    naming what did not converge. The next hop starts only after it.

    :param preflight_task_id: The hop's pre-flight task (its ``workloads`` XCom is the baseline).
    :param convergence_timeout: How long to wait for convergence. (default: sized from the cluster's node
        count, ``core.upgrade.validation.convergence_timeout``)
    """

    mutates = False

    def __init__(self, *, preflight_task_id: str, convergence_timeout: timedelta | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.preflight_task_id = preflight_task_id
        self.convergence_timeout = convergence_timeout

    def execute(self, context: Context) -> Any:
        if upgrade_request_of(context).dry_run:
            raise AirflowSkipException("Plan mode (dry_run): nothing changed, so there is nothing to validate")
        return super().execute(context)

    def run_step(self, context: Context, request: UpgradeRequest, hop: Hop, done: list[str]) -> dict[str, Any]:
        import time

        from eks_runbooks.core.upgrade.validation import WorkloadState, still_converging

        pushed = context["ti"].xcom_pull(task_ids=self.preflight_task_id, key="workloads") or {}
        baseline = {key: WorkloadState(desired, available) for key, (desired, available) in pushed.items()}
        problems, timeout = self._look(hop, baseline)
        deadline = time.monotonic() + timeout.total_seconds()
        while still_converging(problems) and time.monotonic() < deadline:
            self.log.info("Cluster %s: waiting for %s", self.cluster_name, _problems_text(problems))
            time.sleep(self.waiter_delay)
            problems, _ = self._look(hop, baseline)
        if problems:
            waited = f" after waiting {timeout} for them to converge" if still_converging(problems) else ""
            raise AirflowFailException(
                f"Cluster {self.cluster_name}: hop {hop.from_version} → {hop.to_version} is not done{waited}: "
                f"{_problems_text(problems)}. Look at what is named (`kubectl -n <namespace> rollout status "
                "<kind>/<name>`), fix it, then clear this task."
            )
        return {"summary": f"hop {hop.from_version} → {hop.to_version} validated"}

    def _look(self, hop: Hop, baseline: dict[str, Any]) -> tuple[list[Any], timedelta]:
        """The hop's problems now, and how long they may take to converge on this cluster."""
        from eks_runbooks.core.upgrade.validation import convergence_timeout
        from eks_runbooks.readers.cluster import KubernetesReader, check_hop_done
        from eks_runbooks.readers.kube_client import eks_kubernetes_client

        # A new client each look: a long wait outlives the 15-minute EKS token.
        with eks_kubernetes_client(self.cluster_name, hook=self.hook) as api_client:
            kube = KubernetesReader(api_client)
            problems = check_hop_done(self.hook, kube, self.cluster_name, hop, baseline)
            timeout = self.convergence_timeout or convergence_timeout(len(kube.list("v1", "Node")))
        return problems, timeout


def _problems_text(problems: list[Any]) -> str:
    return "; ".join(f"{p.check}: {p.detail}" + (f" [{', '.join(p.objects)}]" if p.objects else "") for p in problems)


class UpgradeRejected(AirflowFailException):
    """A person rejected the plan, or no one answered in time (not retried: asking again is a new run)."""


class UpgradeApprovalOperator(ApprovalOperator):
    """
    A person approves the plan before the first change (``require_approval``); in plan mode, or when no
    approval is asked for, it passes at once.

    Approve lets the hops run. Reject fails the run with "rejected by <who>: <comment>" (the approver's
    ``comment`` field), which the report, the run's note and the ticket repeat; nothing has changed then and
    the claim is released. No answer within ``response_timeout`` fails the same way. Neither is retried: a
    retry would ask again, silently, for another ``response_timeout``.
    """

    #: The approver's form: one optional comment, shown with a rejection.
    COMMENT = "comment"

    def __init__(self, **kwargs: Any) -> None:
        from airflow.sdk import Param
        from airflow.sdk.definitions.param import ParamsDict

        # In a DAG, ``params`` already holds the DAG's params (marked "dag"); HITLOperator keeps only the
        # task's own (marked "task") as the approver's form.
        params = ParamsDict()
        params.update(kwargs.get("params") or {})
        params[self.COMMENT] = Param(
            "",
            type=["null", "string"],
            title="Comment",
            description="Why you approve or reject (a rejection quotes it in the run's failure).",
            source="task",
        )
        kwargs["params"] = params
        super().__init__(ignore_downstream_trigger_rules=True, **kwargs)

    def execute(self, context: Context) -> Any:
        request = self._request(context)
        if request.dry_run or not request.require_approval:
            reason = "plan mode" if request.dry_run else "require_approval is false"
            self.log.info("No approval needed (%s)", reason)
            return {"approved": True, "reason": reason}
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        request = self._request(context)
        upgrade = self._describe(request)
        if event.get("error_type") == "timeout":
            raise UpgradeRejected(
                f"No one answered the approval of the {upgrade} within {self.response_timeout}; nothing was changed. "
                f"To upgrade, start a new run and answer it under Required Actions."
            )
        # HITLOperator's checks, without ApprovalOperator's "skip everything after a Reject": a rejected
        # upgrade is a failed run, so the ticket and the run list say so.
        result = super(ApprovalOperator, self).execute_complete(context=context, event=event)
        responder = result.get("responded_by_user") or {}
        who = responder.get("name") or responder.get("id") or "an approver"
        if result["chosen_options"] == [self.APPROVE]:
            self.log.info("The %s was approved by %s", upgrade, who)
            return {**result, "approved_by": who}
        comment = str((result.get("params_input") or {}).get(self.COMMENT) or "").strip() or "no comment given"
        context["ti"].xcom_push(key="return_value", value={**result, "rejected_by": who})
        raise UpgradeRejected(f"The {upgrade} was rejected by {who}: {comment}; nothing was changed.")

    def _request(self, context: Context) -> UpgradeRequest:
        """The run's request, from its params without this form's fields."""
        return upgrade_request_of({**context, "params": self._run_params(context)})

    def _run_params(self, context: Context) -> dict[str, Any]:
        return {key: value for key, value in context["params"].items() if key not in self.params}

    def _describe(self, request: Any) -> str:
        """What is approved, in messages: "upgrade of <cluster> to <version>"."""
        return f"upgrade of {request.cluster_name} to {request.target_version}"
