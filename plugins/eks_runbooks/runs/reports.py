"""Where runbooks put their reports: ``<reports base>/<runbook>/<run id>/<file>``, plus ``<runbook>/latest/``.

The reports base is the Airflow Variable ``eks_reports_base``: a ``file://`` URL, an ``s3://bucket/prefix`` URL,
or a plain absolute path (read as ``file://``). Without the Variable, reports go to ``<AIRFLOW_HOME>/reports``.
Files are written whole or not at all (a temporary file renamed into place, or one S3 PutObject), so a reader
comparing against the previous run never sees half a report. ``file://`` reports are not world-readable: files
0640, the folders created for them 0750, whatever the umask.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

#: The Airflow Variable that holds the reports base.
REPORTS_BASE_VARIABLE = "eks_reports_base"
#: The folder, beside the run folders of a runbook, that holds a copy of its most recent report.
LATEST_FOLDER = "latest"
#: The folder, beside the run folders of a runbook, that holds one ``<ticket id>.json`` per ticket: the runs
#: (attempts) made for it, so a ticket retried after a failure shows every attempt.
TICKETS_FOLDER = "tickets"

#: Reports name clusters, accounts and findings: readable by the owner and its group (Airflow's), nobody else.
_FILE_MODE = 0o640
_DIR_MODE = 0o750
_UNSAFE_SEGMENT_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]")
_EXPECTED_BASE = "expected file:///absolute/path, s3://bucket/prefix or an absolute path"


def reports_base() -> str:
    """The reports base URL, normalised: ``file:///...`` or ``s3://bucket[/prefix]``, no trailing slash.

    Read from the Airflow Variable ``eks_reports_base``: a ``file://`` or ``s3://`` URL, or a plain absolute
    path (treated as ``file://``). Default when the Variable is not set: ``file://<AIRFLOW_HOME>/reports``
    (``AIRFLOW_HOME`` as Airflow resolves it: the environment variable, else ``~/airflow``).

    :raises ValueError: for another scheme, a relative path or a ``..`` segment, naming the Variable and value.
    """
    from airflow.sdk import Variable

    value = Variable.get(REPORTS_BASE_VARIABLE, default=None)
    if value is None or not str(value).strip():
        airflow_home = Path(os.path.expandvars(os.environ.get("AIRFLOW_HOME", "~/airflow"))).expanduser()
        return f"file://{airflow_home.resolve() / 'reports'}"
    return normalise_reports_base(str(value).strip())


def normalise_reports_base(value: str) -> str:
    """``value`` as a reports base URL (see :func:`reports_base`), or ValueError saying what is wrong."""
    scheme, netloc, path = _split(value)
    if scheme == "s3":
        if not netloc:
            raise _bad_base(value, "an s3:// URL needs a bucket")
        return "s3://" + "/".join([netloc, *_path_segments(value, path)])
    if netloc not in ("", "localhost"):
        raise _bad_base(value, f"a file:// URL names no host (got {netloc!r}); use file:///absolute/path")
    if not path.startswith("/"):
        raise _bad_base(value, "the path is relative")
    return "file:///" + "/".join(_path_segments(value, path))


@dataclass(frozen=True)
class ReportLocation:
    """The folder of one run's report: ``<base>/<runbook>/<run id>/``.

    Run ids such as ``manual__2026-11-21T10:00:00+00:00`` become one readable path segment
    (``manual__2026-11-21T10_00_00_00_00``): every character outside ``A-Z a-z 0-9 . _ -`` turns into ``_``.

    :param base: the reports base (usually :func:`reports_base`).
    :param runbook: the runbook's name, normally its DAG id.
    :param run_id: the Airflow run id.
    """

    base: str
    runbook: str
    run_id: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", normalise_reports_base(self.base))
        if safe_path_segment(self.run_id) in (LATEST_FOLDER, TICKETS_FOLDER):
            raise ValueError(
                f"run id {self.run_id!r} would overwrite the {safe_path_segment(self.run_id)}/ folder of {self.runbook}"
            )
        safe_path_segment(self.runbook)

    @property
    def folder(self) -> str:
        """The URL of this run's report folder (no trailing slash)."""
        return _folder(self.base, self.runbook, safe_path_segment(self.run_id))

    def url(self, name: str) -> str:
        """The URL of the report file ``name`` (a relative path: ``report.json``, ``clusters/a.html``)."""
        return _file_url(self.folder, name)


def safe_path_segment(value: str) -> str:
    """``value`` as one path segment that stays where it is put (not reversible; readable on purpose)."""
    segment = _UNSAFE_SEGMENT_CHARACTERS.sub("_", value)
    if not segment.strip("."):
        raise ValueError(f"{value!r} cannot name a report folder: it is empty or only dots")
    return segment


def write_report(
    location: ReportLocation, files: Mapping[str, str | bytes], *, aws_conn_id: str = "aws_default"
) -> list[str]:
    """Write each of ``files`` (name → content; ``str`` is written as UTF-8) into ``location``.

    ``file://``: missing folders are created (mode 0750), each file is written to a temporary file beside it
    and renamed into place (mode 0640): readable by the owner and its group, never by other users.
    ``s3://``: one PutObject per file, replacing what is there.

    :param aws_conn_id: the Airflow AWS connection used for ``s3://`` bases.
    :return: the URLs written, in the order of ``files``.
    """
    return _write_files(location.url, files, aws_conn_id)


def update_latest(
    base: str, runbook: str, files: Mapping[str, str | bytes], *, aws_conn_id: str = "aws_default"
) -> list[str]:
    """Write ``files`` as the runbook's most recent report, ``<base>/<runbook>/latest/`` (replacing it).

    :return: the URLs written.
    """
    folder = _folder(normalise_reports_base(base), runbook, LATEST_FOLDER)
    return _write_files(lambda name: _file_url(folder, name), files, aws_conn_id)


def ticket_file_url(base: str, runbook: str, ticket_id: str) -> str:
    """The URL of ``<base>/<runbook>/tickets/<ticket id>.json``, the attempts of one ticket."""
    return _file_url(
        _folder(normalise_reports_base(base), runbook, TICKETS_FOLDER), f"{safe_path_segment(ticket_id)}.json"
    )


def write_report_file(url: str, content: str | bytes, *, aws_conn_id: str = "aws_default") -> str:
    """Write one file at ``url`` (a URL from this module), replacing it whole; returns the URL."""
    return _write_files(lambda _name: url, {url: content}, aws_conn_id)[0]


def read_report(url: str, *, aws_conn_id: str = "aws_default") -> bytes | None:
    """The content of a report file written by :func:`write_report`, or None if there is none at ``url``."""
    scheme, netloc, path = _split_report_url(url)
    if scheme == "file":
        try:
            return Path(path).read_bytes()
        except FileNotFoundError:
            return None
    from botocore.exceptions import ClientError

    s3 = _s3_hook(aws_conn_id).conn
    try:
        return s3.get_object(Bucket=netloc, Key=path.lstrip("/"))["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise


def _write_files(url_of: Callable[[str], str], files: Mapping[str, str | bytes], aws_conn_id: str) -> list[str]:
    written = []
    for name, content in files.items():
        url = url_of(name)
        data = content.encode() if isinstance(content, str) else bytes(content)
        scheme, netloc, path = _split_report_url(url)
        if scheme == "file":
            _write_file_atomically(Path(path), data)
        else:
            _s3_hook(aws_conn_id).load_bytes(data, key=path.lstrip("/"), bucket_name=netloc, replace=True)
        written.append(url)
    if written:
        log.info("Wrote %d report file(s): %s", len(written), ", ".join(written))
    return written


def _write_file_atomically(path: Path, data: bytes) -> None:
    _make_folders(path.parent)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).chmod(_FILE_MODE)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _make_folders(folder: Path) -> None:
    # makedirs(mode=...) is filtered by the umask; set the mode explicitly on the folders created here.
    missing = [parent for parent in (folder, *folder.parents) if not parent.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    for created in missing:
        created.chmod(_DIR_MODE)


def _s3_hook(aws_conn_id: str):
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=aws_conn_id)


def _folder(base: str, runbook: str, segment: str) -> str:
    return f"{base}/{safe_path_segment(runbook)}/{segment}"


def _file_url(folder: str, name: str) -> str:
    parts = PurePosixPath(name).parts
    if not name or name.startswith("/") or "\\" in name or any(part in (".", "..") for part in parts):
        raise ValueError(f"report file name {name!r} must be a relative path without '.' or '..' segments")
    return f"{folder}/{'/'.join(parts)}"


def _split_report_url(url: str) -> tuple[str, str, str]:
    """(scheme, bucket or "", path) of a report URL, refusing anything that is not under a valid base."""
    scheme, netloc, path = _split(url, what="report URL")
    if scheme == "file" and (netloc not in ("", "localhost") or not path.startswith("/")):
        raise ValueError(f"report URL {url!r} is not file:///absolute/path")
    if scheme == "s3" and (not netloc or not path.strip("/")):
        raise ValueError(f"report URL {url!r} is not s3://bucket/key")
    _path_segments(url, path, what="report URL")
    return scheme, netloc, path


def _split(value: str, what: str = "") -> tuple[str, str, str]:
    if value.startswith("/"):
        value = "file://" + value
    parts = urlsplit(value)
    problem = None
    if parts.scheme not in ("file", "s3"):
        problem = f"scheme {parts.scheme!r} is not supported" if parts.scheme else "the path is relative"
    elif "@" in parts.netloc:
        problem = "credentials do not belong in the URL (use the Airflow connection)"
    elif parts.query or parts.fragment:
        problem = "a query string or fragment is not a location"
    if problem:
        if what:
            raise ValueError(f"{what} {_redacted(value)!r}: {problem}")
        raise _bad_base(value, problem)
    return parts.scheme, parts.netloc, parts.path


def _path_segments(value: str, path: str, what: str = "") -> list[str]:
    segments = [segment for segment in path.split("/") if segment]
    if ".." in segments:
        if what:
            raise ValueError(f"{what} {_redacted(value)!r} has a '..' segment")
        raise _bad_base(value, "it has a '..' segment")
    return [segment for segment in segments if segment != "."]


def _bad_base(value: str, problem: str) -> ValueError:
    return ValueError(
        f"Airflow Variable {REPORTS_BASE_VARIABLE} = {_redacted(value)!r} is not a reports base: {problem}; "
        f"{_EXPECTED_BASE}"
    )


def _redacted(value: str) -> str:
    """``value`` with any ``user:password@`` part of a URL replaced, so an error never shows a secret."""
    return re.sub(r"//[^/@]*@", "//***@", value)
