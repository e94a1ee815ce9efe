"""`ems-ml stack up | down | status`: Kafka, PostgreSQL and the EMS Core stand-in on this machine.

No Docker needed. Kafka comes from Maven Central (fetched once by Maven into `.cache/kafka/`),
PostgreSQL from Debian's packages (installed if missing). Every service runs detached, with its pid
file and log under `STACK_DIR` (default `.stack/`). Where `KAFKA_BOOTSTRAP_SERVERS` or
`DATABASE_HOST`
point to another machine, nothing is started for it.
"""

from __future__ import annotations

import asyncio
import base64
import glob
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from stream.config import Settings
from stream.errors import StackError

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
STARTUP_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class StackPaths:
    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def kafka(self) -> Path:
        return self.root / "kafka"

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def pidfile(self, name: str) -> Path:
        return self.run / f"{name}.pid"


def stack_paths(settings: Settings) -> StackPaths:
    return StackPaths((PROJECT_ROOT / settings.stack_dir).resolve())


# --------------------------------------------------------------------------- processes and ports


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _read_pid(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by another user (postgres)
    return pid


def _spawn(paths: StackPaths, name: str, argv: list[str], env: dict | None = None) -> int:
    paths.logs.mkdir(parents=True, exist_ok=True)
    paths.run.mkdir(parents=True, exist_ok=True)
    with open(paths.log(name), "ab") as logfile:
        proc = subprocess.Popen(
            argv,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the CLI; Ctrl-C in the terminal does not reach it
            env={**os.environ, **(env or {})},
            cwd=PROJECT_ROOT,
        )
    paths.pidfile(name).write_text(str(proc.pid))
    return proc.pid


def _terminate(pid: int, timeout: float = 30.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def _wait_until(check, what: str, logfile: Path, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    tail = logfile.read_text(errors="replace")[-2000:] if logfile.exists() else "(no log)"
    raise StackError(f"{what} did not answer within {timeout:.0f}s; log {logfile}:\n{tail}")


def _run(argv: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise StackError(f"{what} failed ({' '.join(argv)}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def _apt_install(*packages: str) -> None:
    if os.geteuid() != 0:
        raise StackError(f"missing {', '.join(packages)}: install them (apt-get install ...)")
    log.info("installing %s from Debian packages", ", ".join(packages))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-q"], "apt-get update", env=env)
    _run(["apt-get", "install", "-y", "-q", *packages], "apt-get install", env=env)


# --------------------------------------------------------------------------- Kafka


def _kafka_address(settings: Settings) -> tuple[str, int] | None:
    """The local broker address to run, or None when the brokers are elsewhere."""
    first = settings.kafka_bootstrap_servers.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    return (host, int(port)) if host in LOCAL_HOSTS else None


def kafka_libs(version: str) -> Path:
    """The broker's jars, fetched from Maven Central by Maven the first time."""
    libs = PROJECT_ROOT / ".cache" / "kafka" / version / "libs"
    if list(libs.glob("kafka_2.13-*.jar")):
        return libs
    if not shutil.which("java") or not shutil.which("mvn"):
        _apt_install("openjdk-17-jre-headless", "maven")
    log.info("fetching Apache Kafka %s from Maven Central into %s", version, libs)
    tmp = libs.with_name("libs.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    _run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(PROJECT_ROOT / "deploy" / "kafka" / "pom.xml"),
            f"-Dkafka.version={version}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp}",
            "-DincludeScope=runtime",
        ],
        "fetching Kafka with Maven",
    )
    tmp.rename(libs)  # only a complete download counts as cached
    return libs


def _kafka_config(paths: StackPaths, host: str, port: int) -> Path:
    data = paths.kafka / "data"
    config = paths.kafka / "server.properties"
    controller_port = port + 1
    config.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@{host}:{controller_port}",
                f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
                f"advertised.listeners=PLAINTEXT://{host}:{port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={data}",
                "num.partitions=4",
                "auto.create.topics.enable=true",
                # one node: every internal topic has one replica
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=10",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                # a worker joining alone need not wait 3 s for others
                "group.initial.rebalance.delay.ms=0",
                "log.retention.hours=168",
                "",
            ]
        )
    )
    (paths.kafka / "log4j2.properties").write_text(
        "\n".join(
            [
                "status = warn",
                "appender.out.type = Console",
                "appender.out.name = out",
                "appender.out.layout.type = PatternLayout",
                "appender.out.layout.pattern = %d{yyyy-MM-dd HH:mm:ss} - %c - %p - %m%n",
                "rootLogger.level = info",
                "rootLogger.appenderRef.out.ref = out",
                "logger.kafka.name = org.apache.kafka",
                "logger.kafka.level = warn",
                "",
            ]
        )
    )
    return config


def _kafka_answers(settings: Settings) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    address = _kafka_address(settings)
    if address and not port_open(*address):
        return False  # not listening yet; spare the log aiokafka's connection errors

    async def check() -> bool:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=3000
        )
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            await admin.close()

    return asyncio.run(check())


def _new_cluster_id() -> str:
    """A Kafka cluster id: a random UUID in URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def kafka_up(settings: Settings, paths: StackPaths) -> str:
    address = _kafka_address(settings)
    if address is None:
        return f"kafka: external at {settings.kafka_bootstrap_servers}, nothing started"
    host, port = address
    if _read_pid(paths.pidfile("kafka")) or port_open(host, port):
        _wait_until(lambda: _kafka_answers(settings), "Kafka", paths.log("kafka"))
        return f"kafka: already running on {host}:{port}"
    libs = kafka_libs(settings.kafka_version)
    paths.kafka.mkdir(parents=True, exist_ok=True)
    config = _kafka_config(paths, host, port)
    classpath = f"{libs}/*"
    if not (paths.kafka / "data" / "meta.properties").exists():
        _run(
            [
                "java",
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={_new_cluster_id()}",
                "-c",
                str(config),
            ],
            "formatting Kafka storage",
        )
    _spawn(
        paths,
        "kafka",
        [
            "java",
            "-Xms256m",
            "-Xmx1g",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={paths.kafka / 'log4j2.properties'}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(config),
        ],
    )
    _wait_until(lambda: _kafka_answers(settings), "Kafka", paths.log("kafka"))
    return f"kafka: started on {host}:{port} (Apache Kafka {settings.kafka_version}, KRaft)"


# --------------------------------------------------------------------------- PostgreSQL


def _postgres_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version_key)
    if not candidates:
        _apt_install("postgresql")
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version_key)
    if not candidates:
        raise StackError("PostgreSQL is not installed and could not be installed")
    return Path(candidates[-1]).parent


def _version_key(path: str) -> int:
    return int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0


def _as_postgres_user(argv: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root; Debian's package creates the `postgres` user.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _database_answers(settings: Settings, dbname: str) -> bool:
    try:
        dsn = settings.model_copy(update={"database_name": dbname}).database_dsn
        with psycopg.connect(dsn, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def ensure_database(settings: Settings, name: str | None = None) -> None:
    """Create the database `name` (default `DATABASE_NAME`) if it does not exist."""
    name = name or settings.database_name
    dsn = settings.model_copy(update={"database_name": "postgres"}).database_dsn
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def postgres_up(settings: Settings, paths: StackPaths) -> str:
    host, port = settings.database_host, settings.database_port
    if host not in LOCAL_HOSTS:
        return f"postgres: external at {host}:{port}, nothing started"
    if port_open(host, port):
        if not _database_answers(settings, "postgres"):
            raise StackError(
                f"something already listens on {host}:{port} but does not accept "
                f"DATABASE_USER/DATABASE_PASSWORD; stop it or point DATABASE_PORT elsewhere"
            )
        ensure_database(settings)
        return f"postgres: already running on {host}:{port}"
    bindir = _postgres_bin()
    home = postgres_home(paths)
    data = home / "data"
    paths.logs.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        logfile = paths.log("postgres")
        logfile.touch()
        shutil.chown(logfile, "postgres", "postgres")
    if not (data / "PG_VERSION").exists():
        pwfile = home / "pwfile"
        pwfile.write_text(settings.database_password.get_secret_value() + "\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        try:
            _run(
                _as_postgres_user(
                    [
                        str(bindir / "initdb"),
                        "-D",
                        str(data),
                        "-U",
                        settings.database_user,
                        f"--pwfile={pwfile}",
                        "--auth-local=trust",
                        "--auth-host=scram-sha-256",
                        "-E",
                        "UTF8",
                        "--no-locale",
                    ]
                ),
                "initdb",
            )
        finally:
            pwfile.unlink(missing_ok=True)
    options = f"-p {port} -k {home} -c listen_addresses={host}"
    _run(
        _as_postgres_user(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(paths.log("postgres")),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        ),
        "starting PostgreSQL",
    )
    _wait_until(
        lambda: _database_answers(settings, "postgres"), "PostgreSQL", paths.log("postgres")
    )
    ensure_database(settings)
    return f"postgres: started on {host}:{port}, database {settings.database_name}"


def postgres_home(paths: StackPaths) -> Path:
    """The server's folder: `STACK_DIR/postgres`, owned by the `postgres` user when we are root.

    The server runs as `postgres`, which must be able to reach the folder; where a parent of the
    checkout is closed to other users, the folder moves to the system's temporary directory.
    """
    home = paths.postgres
    home.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return home
    shutil.chown(home, "postgres", "postgres")
    reachable = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-w", str(home)])
    if reachable.returncode != 0:
        digest = hashlib.sha1(str(paths.root).encode()).hexdigest()[:12]
        home = Path(tempfile.gettempdir()) / f"ems-ml-postgres-{digest}"
        home.mkdir(parents=True, exist_ok=True)
        shutil.chown(home, "postgres", "postgres")
    return home


def postgres_down(paths: StackPaths) -> str:
    data = postgres_home(paths) / "data"
    if not (data / "postmaster.pid").exists():
        return "postgres: not running (from this stack)"
    bindir = _postgres_bin()
    _run(
        _as_postgres_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
        "stopping PostgreSQL",
    )
    return "postgres: stopped"


# --------------------------------------------------------------------------- EMS Core stand-in


def _standin_address(settings: Settings) -> tuple[str, int] | None:
    from urllib.parse import urlsplit

    url = urlsplit(settings.ems_core_url)
    host = url.hostname or "localhost"
    return (host, url.port or 80) if host in LOCAL_HOSTS else None


def ems_core_up(settings: Settings, paths: StackPaths) -> str:
    address = _standin_address(settings)
    if address is None:
        return f"ems-core: external at {settings.ems_core_url}, nothing started"
    host, port = address
    if port_open(host, port):
        return f"ems-core: already running on {host}:{port}"
    _spawn(
        paths,
        "ems-core",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "deploy.ems_core_standin:app",
            "--host",
            "127.0.0.1" if host == "localhost" else host,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
    )
    _wait_until(lambda: port_open(host, port), "EMS Core stand-in", paths.log("ems-core"))
    return f"ems-core: stand-in started on {host}:{port}"


# --------------------------------------------------------------------------- commands


def up(settings: Settings) -> list[str]:
    paths = stack_paths(settings)
    lines = [kafka_up(settings, paths), postgres_up(settings, paths), ems_core_up(settings, paths)]
    lines.append(f"logs: {paths.logs}")
    return lines


def down(settings: Settings) -> list[str]:
    paths = stack_paths(settings)
    lines = []
    for name in ("ems-core", "kafka"):
        pid = _read_pid(paths.pidfile(name))
        if pid:
            _terminate(pid)
            lines.append(f"{name}: stopped")
        else:
            lines.append(f"{name}: not running (from this stack)")
        paths.pidfile(name).unlink(missing_ok=True)
    lines.append(postgres_down(paths))
    return lines


def status(settings: Settings) -> list[str]:
    paths = stack_paths(settings)
    lines = []
    kafka = _kafka_address(settings)
    if kafka:
        state = "answering" if port_open(*kafka) else "down"
        lines.append(f"kafka: {state} on {kafka[0]}:{kafka[1]}, log {paths.log('kafka')}")
    else:
        lines.append(f"kafka: external at {settings.kafka_bootstrap_servers}")
    db_state = "answering" if _database_answers(settings, "postgres") else "down"
    lines.append(
        f"postgres: {db_state} on {settings.database_host}:{settings.database_port}, "
        f"log {paths.log('postgres')}"
    )
    standin = _standin_address(settings)
    if standin:
        state = "answering" if port_open(*standin) else "down"
        lines.append(f"ems-core: {state} on {standin[0]}:{standin[1]}, log {paths.log('ems-core')}")
    else:
        lines.append(f"ems-core: external at {settings.ems_core_url}")
    return lines
