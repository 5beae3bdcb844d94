"""Airflow as teams deploy it, on one machine from packages only: PostgreSQL, Redis and Celery workers.

``scripts/demo.py --distributed`` starts, each as the leader of its own process group (so the demo can stop each
whole, and a test can kill one worker as a lost machine would end it):

- PostgreSQL (Debian's ``postgresql``), the metadata database and Celery's result backend. PostgreSQL refuses to
  run as root: when the demo runs as root the server runs as the ``postgres`` user, its data directory under
  ``/var/lib/postgresql/eks-runbooks-demo/`` (a directory that user can reach; the state directory may sit in a
  home or temp directory it cannot) with ``<state>/postgres`` a link to it. Password authentication on loopback
  only; the password is generated into ``<state>/postgres-password`` (0600).
- Redis (Debian's ``redis-server``), the Celery broker: loopback only, a generated password in its 0600 config.
- ``airflow db migrate``, then the api-server, scheduler, dag-processor, triggerer and two Celery workers on the
  default queue (``worker-1``, ``worker-2``): docker-compose.yaml's services (which use the FAB auth manager and
  Airflow's default sizes; the demo keeps the simple auth manager and sizes for two cores).

PostgreSQL's, Redis's and the log servers' ports are chosen free at start; the API's and the sandbox's are the
demo's options.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from process_table import free_port

#: Celery task slots per worker: two workers of 2 = 4 tasks at once on a 2-core machine, most of them waiting on
#: AWS (the simulated fleet) rather than computing.
WORKER_CONCURRENCY = 2
WORKERS = ("worker-1", "worker-2")
AIRFLOW_SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
#: Where PostgreSQL keeps the demo's data when the demo runs as root (the postgres user owns /var/lib/postgresql).
ROOT_POSTGRES_HOME = Path("/var/lib/postgresql/eks-runbooks-demo")

Starter = Callable[[list[str], Path, dict[str, str] | None], subprocess.Popen]


@dataclass(frozen=True)
class Backends:
    """How Airflow reaches the metadata database and the broker (URLs carry passwords: never print them)."""

    database_url: str
    broker_url: str

    @property
    def result_backend(self) -> str:
        return "db+" + self.database_url.replace("postgresql+psycopg2://", "postgresql://", 1)


def secret_file(path: Path) -> str:
    """The secret kept in ``path`` (0600), generated on first use: a restart keeps the database's password."""
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(24))
    return path.read_text().strip()


def postgres_bin(name: str) -> str:
    """A PostgreSQL server program: Debian keeps them in /usr/lib/postgresql/<major>/bin, off the PATH."""
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda path: int(path.parts[-3]))
    found = str(versions[-1]) if versions else shutil.which(name)
    if not found:
        raise SystemExit(f"demo: PostgreSQL's {name} not found: install Debian's postgresql package (README.md)")
    return found


def as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL will not run as root: run its programs as the postgres user when the demo is root. ``setpriv``
    (util-linux) execs the program itself, so the process the demo started is the server: no parent in between
    that would forward signals its own way."""
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", *command]


def postgres_data_dir(state: Path) -> Path:
    """The data directory for this state directory (see the module's docstring for root)."""
    link = state / "postgres"
    if os.geteuid() != 0:
        return link
    if link.is_symlink():
        return link.resolve()
    # A state directory without the link is new (or was deleted to start over): so is its database.
    target = ROOT_POSTGRES_HOME / hashlib.sha256(str(state).encode()).hexdigest()[:16]
    subprocess.run(["rm", "-rf", str(target)], check=True)
    subprocess.run(["install", "-d", "-o", "postgres", "-g", "postgres", "-m", "0700", str(target)], check=True)
    link.symlink_to(target)
    return target


def init_postgres(data_dir: Path, password: str) -> None:
    """``initdb`` once: superuser ``airflow`` with ``password``, password authentication for every connection."""
    if (data_dir / "global" / "pg_control").exists():
        return
    data_dir.mkdir(mode=0o700, exist_ok=True)
    # initdb reads the password from a file the postgres user can read: one in the data directory's parent,
    # removed at once.
    password_file = data_dir.parent / f".{data_dir.name}.initdb"
    password_file.touch(mode=0o600)
    try:
        password_file.write_text(password)
        if os.geteuid() == 0:
            shutil.chown(password_file, "postgres", "postgres")
        command = [postgres_bin("initdb"), "-D", str(data_dir), "-U", "airflow", f"--pwfile={password_file}"]
        command += ["--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8"]
        subprocess.run(as_postgres_user(command), check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as error:
        raise SystemExit(f"demo: initdb failed: {error.stderr.strip()}") from error
    finally:
        password_file.unlink(missing_ok=True)


def start_postgres(state: Path, start: Starter) -> tuple[subprocess.Popen, str]:
    """Start PostgreSQL on a free loopback port; returns the process and the ``airflow`` database's URL."""
    password = secret_file(state / "postgres-password")
    data_dir = postgres_data_dir(state)
    init_postgres(data_dir, password)
    port = free_port()
    settings = {"listen_addresses": "127.0.0.1", "port": port, "unix_socket_directories": str(data_dir)}
    options = [f"--{name.replace('_', '-')}={value}" for name, value in settings.items()]
    command = as_postgres_user([postgres_bin("postgres"), "-D", str(data_dir), *options])
    process = start(command, state / "postgres.log", None)
    server_url = f"postgresql+psycopg2://airflow:{password}@127.0.0.1:{port}"
    create_database(server_url, "airflow", process)
    return process, f"{server_url}/airflow"


def create_database(server_url: str, name: str, server: subprocess.Popen, timeout: float = 60) -> None:
    """Wait for the server to accept connections, then create database ``name`` unless it exists."""
    import psycopg2

    dsn = server_url.replace("postgresql+psycopg2://", "postgresql://", 1) + "/postgres"
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection = psycopg2.connect(dsn, connect_timeout=5)
            break
        except psycopg2.OperationalError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("demo: PostgreSQL did not start; see postgres.log in the state directory") from None
            time.sleep(0.2)
    connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()


def start_redis(state: Path, start: Starter) -> tuple[subprocess.Popen, str]:
    """Start Redis on a free loopback port, nothing persisted; returns the process and the broker URL."""
    server = shutil.which("redis-server")
    if not server:
        raise SystemExit("demo: redis-server not found: install Debian's redis-server package (README.md)")
    password = secrets.token_urlsafe(24)
    port = free_port()
    redis_dir = state / "redis"
    redis_dir.mkdir(exist_ok=True)
    config = redis_dir / "redis.conf"
    config.touch(mode=0o600)
    settings = {"bind": "127.0.0.1", "port": port, "dir": redis_dir, "save": '""', "appendonly": "no"}
    config.write_text("".join(f"{key} {value}\n" for key, value in settings.items()) + f"requirepass {password}\n")
    process = start([server, str(config)], state / "redis.log", None)
    return process, f"redis://:{password}@127.0.0.1:{port}/0"


def distributed_environment(base: dict[str, str], backends: Backends, api_port: int) -> dict[str, str]:
    """``base`` (the demo's Airflow settings) for CeleryExecutor with PostgreSQL and Redis."""
    return base | {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": backends.database_url,
        "AIRFLOW__CELERY__BROKER_URL": backends.broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": backends.result_backend,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        # Workers run tasks through the api-server's Execution API.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{api_port}/execution/",
        "AIRFLOW__CORE__PARALLELISM": str(WORKER_CONCURRENCY * len(WORKERS) * 2),
        # One API worker process: on 2 cores, four (the default) cost more at start than they give.
        "AIRFLOW__API__WORKERS": "1",
        # The REST API and UI on loopback only (the task log servers are JWT-protected and bind every address).
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    }


def migrate(env: dict[str, str], state: Path) -> None:
    """``airflow db migrate``: the schema, before any service starts (docker-compose's airflow-init)."""
    with (state / "airflow-db-migrate.log").open("w") as log:
        done = subprocess.run(["airflow", "db", "migrate"], env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"demo: airflow db migrate failed ({done.returncode}); see {state}/airflow-db-migrate.log")


def is_worker(command: list[str]) -> bool:
    """Whether ``command`` started a Celery worker (see start_airflow_services)."""
    return command[1:3] == ["celery", "worker"]


def start_airflow_services(env: dict[str, str], state: Path, start: Starter) -> list[subprocess.Popen]:
    """The api-server, scheduler, dag-processor, triggerer and the Celery workers, each in its own group."""
    processes = [start(["airflow", service], state / f"airflow-{service}.log", env) for service in AIRFLOW_SERVICES]
    for worker in WORKERS:
        # Each worker serves its task logs to the UI on a port of its own.
        worker_env = env | {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
        command = ["airflow", "celery", "worker", "--celery-hostname", f"{worker}@%h"]
        processes.append(start(command, state / f"airflow-{worker}.log", worker_env))
    return processes
