"""Report locations: the ``eks_reports_base`` Variable, safe run folders, atomic file:// writes and S3."""

from __future__ import annotations

import stat
from pathlib import Path

import boto3
import pytest

from eks_runbooks.runs.reports import (
    ReportLocation,
    read_report,
    reports_base,
    ticket_file_url,
    update_latest,
    write_report,
    write_report_file,
)

RUN_ID = "manual__2026-11-21T10:00:00+00:00"


@pytest.fixture
def file_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Reports go to tmp_path/reports through the Variable, as an operator would configure it."""
    monkeypatch.setenv("AIRFLOW_VAR_EKS_REPORTS_BASE", f"file://{tmp_path}/reports")
    return tmp_path / "reports"


def test_report_written_under_the_variable_base_reads_back(file_base: Path):
    location = ReportLocation(reports_base(), "eks_cluster_upgrade", RUN_ID)

    urls = write_report(location, {"report.json": '{"ok": true}', "report.md": b"# Upgrade\n"})

    folder = file_base / "eks_cluster_upgrade" / "manual__2026-11-21T10_00_00_00_00"
    assert urls == [f"file://{folder}/report.json", f"file://{folder}/report.md"]
    assert (folder / "report.json").read_text() == '{"ok": true}'
    assert read_report(urls[1]) == b"# Upgrade\n"


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_report_files_and_folders_are_not_world_readable_whatever_the_umask(file_base: Path, umask: int):
    import os

    previous = os.umask(umask)
    try:
        write_report(ReportLocation(reports_base(), "eks_cluster_upgrade", RUN_ID), {"report.json": "{}"})
        update_latest(reports_base(), "eks_cluster_upgrade", {"clusters/a.html": "<p>a</p>"})
    finally:
        os.umask(previous)
    runbook = file_base / "eks_cluster_upgrade"
    run_folder = runbook / "manual__2026-11-21T10_00_00_00_00"
    files = (run_folder / "report.json", runbook / "latest" / "clusters" / "a.html")
    folders = (file_base, runbook, run_folder, runbook / "latest", runbook / "latest" / "clusters")
    assert {stat.S_IMODE(file.stat().st_mode) for file in files} == {0o640}
    assert {stat.S_IMODE(folder.stat().st_mode) for folder in folders} == {0o750}


def test_rewriting_a_report_replaces_it_and_leaves_no_temporary_file(file_base: Path):
    location = ReportLocation(reports_base(), "eks_compliance_audit", RUN_ID)
    write_report(location, {"report.html": "<p>first</p>"})
    write_report(location, {"report.html": "<p>second</p>"})

    run_folder = file_base / "eks_compliance_audit" / "manual__2026-11-21T10_00_00_00_00"
    assert [path.name for path in run_folder.iterdir()] == ["report.html"]
    assert (run_folder / "report.html").read_text() == "<p>second</p>"


def test_failed_write_keeps_the_previous_report_and_leaves_no_temporary_file(
    file_base: Path, monkeypatch: pytest.MonkeyPatch
):
    import os

    location = ReportLocation(reports_base(), "eks_compliance_audit", RUN_ID)
    write_report(location, {"report.json": "old"})

    def disk_full(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_report(location, {"report.json": "new"})

    run_folder = file_base / "eks_compliance_audit" / "manual__2026-11-21T10_00_00_00_00"
    assert [path.name for path in run_folder.iterdir()] == ["report.json"]
    assert (run_folder / "report.json").read_text() == "old"


def test_default_base_is_reports_under_airflow_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("AIRFLOW_VAR_EKS_REPORTS_BASE", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    assert reports_base() == f"file://{tmp_path}/airflow/reports"


def test_plain_absolute_path_is_a_file_base(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("AIRFLOW_VAR_EKS_REPORTS_BASE", f"{tmp_path}/reports/")
    assert reports_base() == f"file://{tmp_path}/reports"


def test_s3_base_keeps_bucket_and_prefix(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AIRFLOW_VAR_EKS_REPORTS_BASE", "s3://ops-reports/eks/")
    assert reports_base() == "s3://ops-reports/eks"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("https://reports.example.com/eks", "scheme 'https' is not supported"),
        ("reports/eks", "the path is relative"),
        ("file://reports/eks", "names no host"),
        ("/srv/reports/../etc", "'..' segment"),
        ("s3://ops-reports/eks/../other", "'..' segment"),
        ("s3:///eks", "needs a bucket"),
    ],
)
def test_unusable_base_is_refused_naming_the_variable_and_value(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
):
    monkeypatch.setenv("AIRFLOW_VAR_EKS_REPORTS_BASE", value)
    with pytest.raises(ValueError, match="eks_reports_base") as refused:
        reports_base()
    assert value in str(refused.value) and problem in str(refused.value)


def test_credentials_in_the_base_are_refused_without_being_echoed(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AIRFLOW_VAR_EKS_REPORTS_BASE", "s3://AKIAEXAMPLE:s3cr3t@ops-reports/eks")
    with pytest.raises(ValueError, match="credentials") as refused:
        reports_base()
    assert "s3cr3t" not in str(refused.value) and "AKIAEXAMPLE" not in str(refused.value)


@pytest.mark.parametrize("run_id", ["../../../etc", "a/../../b", "/etc/passwd", "..\\..\\x", "run id; rm -rf /"])
def test_unsafe_run_id_becomes_one_segment_inside_the_runbook_folder(file_base: Path, run_id: str):
    (url,) = write_report(ReportLocation(reports_base(), "eks_cluster_upgrade", run_id), {"report.json": "{}"})

    written = Path(url.removeprefix("file://"))
    assert written.parent.parent == file_base / "eks_cluster_upgrade"
    assert written.resolve().is_relative_to(file_base.resolve())


@pytest.mark.parametrize("run_id", ["..", ".", "", "latest", "tickets"])
def test_run_id_that_cannot_be_a_run_folder_is_refused(run_id: str, tmp_path: Path):
    with pytest.raises(ValueError):
        ReportLocation(f"file://{tmp_path}", "eks_cluster_upgrade", run_id)


@pytest.mark.parametrize("name", ["../escape.json", "/etc/passwd", "a/../../b.json", "", "a\\..\\b"])
def test_report_file_name_cannot_leave_the_run_folder(name: str, tmp_path: Path):
    location = ReportLocation(f"file://{tmp_path}", "eks_cluster_upgrade", RUN_ID)
    with pytest.raises(ValueError, match="report file name"):
        location.url(name)


def test_latest_copy_is_replaced_by_each_run(file_base: Path):
    update_latest(reports_base(), "eks_compliance_audit", {"report.json": "run 1"})
    (url,) = update_latest(reports_base(), "eks_compliance_audit", {"report.json": "run 2"})

    assert url == f"file://{file_base}/eks_compliance_audit/latest/report.json"
    assert read_report(url) == b"run 2"


def test_reading_a_report_that_does_not_exist_gives_none(file_base: Path):
    location = ReportLocation(reports_base(), "eks_compliance_audit", RUN_ID)
    assert read_report(location.url("report.json")) is None


@pytest.mark.parametrize("url", ["https://example.com/report.json", "file:///srv/../etc/passwd", "s3://bucket"])
def test_reading_from_a_location_that_is_not_a_report_is_refused(url: str):
    with pytest.raises(ValueError, match="report URL"):
        read_report(url)


def test_s3_report_and_latest_copy_round_trip_through_the_connection(sandbox, monkeypatch: pytest.MonkeyPatch):
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="ops-reports")
    monkeypatch.setenv("AIRFLOW_VAR_EKS_REPORTS_BASE", "s3://ops-reports/eks")
    location = ReportLocation(reports_base(), "eks_compliance_audit", RUN_ID)

    urls = write_report(location, {"report.json": '{"clusters": []}', "report.html": b"<html></html>"})
    latest = update_latest(reports_base(), "eks_compliance_audit", {"report.json": '{"clusters": []}'})

    prefix = "s3://ops-reports/eks/eks_compliance_audit"
    assert urls == [
        f"{prefix}/manual__2026-11-21T10_00_00_00_00/report.json",
        f"{prefix}/manual__2026-11-21T10_00_00_00_00/report.html",
    ]
    assert latest == [f"{prefix}/latest/report.json"]
    assert read_report(urls[1]) == b"<html></html>"
    assert read_report(latest[0]) == b'{"clusters": []}'
    assert read_report(location.url("missing.json")) is None
    keys = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket="ops-reports")["Contents"]
    assert sorted(item["Key"] for item in keys) == [
        "eks/eks_compliance_audit/latest/report.json",
        "eks/eks_compliance_audit/manual__2026-11-21T10_00_00_00_00/report.html",
        "eks/eks_compliance_audit/manual__2026-11-21T10_00_00_00_00/report.json",
    ]


def test_log_lines_name_the_files_and_no_credentials(sandbox, caplog: pytest.LogCaptureFixture):
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="ops-reports")
    location = ReportLocation("s3://ops-reports", "eks_cluster_upgrade", RUN_ID)

    with caplog.at_level("DEBUG", logger="eks_runbooks"):
        write_report(location, {"report.json": "{}"})

    ours = "\n".join(record.getMessage() for record in caplog.records if record.name.startswith("eks_runbooks"))
    assert location.url("report.json") in ours
    assert "testing" not in ours  # the sandbox connection's access key and secret


def test_a_tickets_attempts_file_sits_beside_the_run_folders_and_is_replaced_whole(file_base: Path):
    url = ticket_file_url(reports_base(), "eks_cluster_upgrade", "CHG/42")

    assert url == f"file://{file_base}/eks_cluster_upgrade/tickets/CHG_42.json"
    assert read_report(url) is None
    write_report_file(url, "[1]")
    assert write_report_file(url, "[1, 2]") == url
    assert read_report(url) == b"[1, 2]"
