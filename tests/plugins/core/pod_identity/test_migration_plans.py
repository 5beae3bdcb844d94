"""What each phase does to a service account: migrate, cleanup and rollback decisions."""

from __future__ import annotations

import pytest
from estate_objects import POD_IDENTITY_ENV, ROLE, deployment, pod, replica_set, service_account

from eks_runbooks.core.catalogue import Severity, Status
from eks_runbooks.core.pod_identity.eligibility import Effect, EligibilityFinding
from eks_runbooks.core.pod_identity.estate import KubernetesObjects, map_irsa_estate
from eks_runbooks.core.pod_identity.plan import (
    MIGRATED_BY_TAG,
    RUNBOOK,
    Action,
    plan_cleanup,
    plan_migration,
    plan_role_cleanup,
    plan_rollback,
)
from eks_runbooks.core.pod_identity.request import InvalidMigrationRequest, parse_migration_request

OURS = {
    "associationId": "a-1",
    "namespace": "orders",
    "serviceAccount": "api",
    "roleArn": ROLE,
    "tags": {MIGRATED_BY_TAG: RUNBOOK},
}


def account(*, on_pod_identity: bool = False, role: str | None = ROLE):
    env = POD_IDENTITY_ENV if on_pod_identity else None
    (found,) = map_irsa_estate(
        KubernetesObjects(
            service_accounts=[service_account("orders", "api", role=role)],
            deployments=[deployment("orders", "api", "api")],
            replica_sets=[replica_set("orders", "api")],
            pods=[pod("orders", "api-1", "api", env=env, owner=("ReplicaSet", "api-5d9f"))],
        ),
        also=["orders/api"],
    )
    return found


def finding(check_id: str, status: Status, effect: Effect = Effect.NOT_ELIGIBLE) -> EligibilityFinding:
    return EligibilityFinding(check_id, "t", Severity.HIGH, effect, status, "found")


def test_an_eligible_service_account_is_migrated_with_its_workloads_restarted():
    plan = plan_migration(account(), [finding("PI-NOT-ON-FARGATE", Status.PASS)], None)
    assert plan.action is Action.MIGRATE and plan.workloads == ("Deployment/orders/api",)


def test_a_failed_not_eligible_check_keeps_it_on_irsa_and_a_report_check_does_not():
    kept = plan_migration(account(), [finding("PI-NOT-ON-FARGATE", Status.FAIL)], None)
    assert kept.action is Action.STAYS_ON_IRSA and kept.reasons == ("PI-NOT-ON-FARGATE: found",)
    reported = plan_migration(account(), [finding("PI-RESTARTABLE-WORKLOADS", Status.FAIL, Effect.REPORT)], None)
    assert reported.action is Action.MIGRATE


def test_a_second_migrate_run_changes_nothing_once_every_pod_is_on_pod_identity():
    assert plan_migration(account(on_pod_identity=True), [], OURS).action is Action.DONE
    assert plan_migration(account(), [], OURS).action is Action.RESTART


def test_cleanup_waits_while_a_pod_still_uses_irsa_and_then_removes_the_annotation():
    assert plan_cleanup(account(), OURS).action is Action.NOT_YET
    assert plan_cleanup(account(on_pod_identity=True), None).action is Action.NOT_YET
    cleaned = plan_cleanup(account(on_pod_identity=True), OURS)
    assert cleaned.action is Action.CLEAN_UP and cleaned.remove_annotation


def test_cleanup_keeps_a_roles_oidc_statement_while_anything_of_the_cluster_uses_it():
    plans = {
        role.role_arn: role
        for role in plan_role_cleanup(
            ["role/a", "role/b", "role/c"],
            {"role/a": ["orders/worker"]},
            {"role/b": ["orders/bare-pod"]},
        )
    }
    assert not plans["role/a"].remove_oidc_statement and "orders/worker" in plans["role/a"].reason
    assert not plans["role/b"].remove_oidc_statement and "orders/bare-pod" in plans["role/b"].reason
    assert plans["role/c"].remove_oidc_statement


def test_rollback_undoes_only_what_this_runbook_migrated():
    assert plan_rollback(account(on_pod_identity=True), OURS).action is Action.ROLL_BACK
    someone_elses = {**OURS, "tags": {}}
    assert plan_rollback(account(on_pod_identity=True), someone_elses).action is Action.NOTHING
    annotation_removed = plan_rollback(account(on_pod_identity=True, role=None), OURS)
    assert annotation_removed.role_arn == ROLE


def test_only_the_cluster_is_required_and_every_bad_key_is_named_at_once():
    request = parse_migration_request({"cluster_name": "orders-prod"})
    assert (request.phase, request.wave_size, request.dry_run, request.include_addons) == ("migrate", 5, True, True)
    with pytest.raises(InvalidMigrationRequest) as refused:
        parse_migration_request(
            {
                "cluster_name": "orders-prod",
                "phase": "undo",
                "wave_size": 0,
                "dryrun": False,
                "service_accounts": ["api"],
            }
        )
    assert set(refused.value.problems) == {"phase", "wave_size", "dryrun", "service_accounts"}
    assert "namespace/name" in refused.value.problems["service_accounts"]


def test_the_scope_filters_by_namespace_and_service_account():
    request = parse_migration_request(
        {"cluster_name": "c", "namespaces": ["orders"], "service_accounts": ["orders/api"]}
    )
    assert request.in_scope("orders", "api") and not request.in_scope("orders", "worker")
    assert not request.in_scope("billing", "api")
