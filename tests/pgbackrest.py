"""A PostgreSQL server of the test's own that archives its WAL to a pgBackRest repository, as
deploy/backup/ configures production: what a point-in-time restore needs and the shared test server
(scripts/with-postgres.sh) has not. Runs as the ``postgres`` user when the tests run as root."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.helpers import free_port

STANZA = "ntjp"


def pg_bin() -> Path:
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True):
        if (d / "initdb").exists() and (d / "postgres").exists():
            return d
    raise RuntimeError("PostgreSQL is not installed (scripts/with-postgres.sh installs it)")


def _as_db_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(_as_db_user(argv), capture_output=True, text=True, check=True, **kw)


@dataclass
class Postgres:
    data: Path
    port: int
    socket_dir: Path
    log: Path

    @property
    def url(self) -> str:
        return f"postgresql://ntjp@127.0.0.1:{self.port}/ntjp"

    @property
    def admin_url(self) -> str:
        return f"postgresql://ntjp@127.0.0.1:{self.port}/postgres"

    def start(self, *, wait_for_primary: bool = True) -> None:
        run([str(pg_bin() / "pg_ctl"), "-D", str(self.data), "-w", "-t", "600", "-l", str(self.log), "-o",
             f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1", "start"])  # fmt: skip
        deadline = time.monotonic() + 600
        while wait_for_primary:
            try:
                with psycopg.connect(self.admin_url, connect_timeout=2) as conn:
                    if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                        return
            except psycopg.OperationalError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL on {self.data} did not finish recovery: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        subprocess.run(_as_db_user([str(pg_bin() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"]),
                       capture_output=True)  # fmt: skip


@dataclass
class Archive:
    """The folder holding the server, the pgBackRest repository and its configuration."""

    root: Path
    config: Path
    server: Postgres

    def pgbackrest(self, *args: str) -> str:
        return run(["pgbackrest", f"--config={self.config}", f"--stanza={STANZA}", *args]).stdout

    def new_server(self, name: str) -> Postgres:
        folder = self.root / name
        return Postgres(folder, free_port(), self.root, self.root / f"{name}.log")

    def producer_config(self, db_url: str) -> Path:
        path = self.root / f"producer-{free_port()}.toml"
        path.write_text(f'[producer]\nservice = "hosp"\ndb = "{db_url}"\nbackup_config = "{self.config}"\n'
                        f'backup_stanza = "{STANZA}"\nbackup_retention_full = 2\n')  # fmt: skip
        return path

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def archived_postgres() -> Archive:
    """initdb, WAL archiving to a fresh repository (pgBackRest archive-push), stanza created."""
    root = Path(tempfile.mkdtemp(prefix="ntjp-pitr."))
    os.chmod(root, 0o755)  # noqa: S103 - the postgres user works in it (pytest's own tmp is root's only)
    for sub in ("repo", "log", "lock", "spool"):
        (root / sub).mkdir()
    config = root / "pgbackrest.conf"
    server = Postgres(root / "db", free_port(), root, root / "db.log")
    config.write_text(
        "[global]\n"
        f"repo1-path={root / 'repo'}\nlog-path={root / 'log'}\nlock-path={root / 'lock'}\n"
        f"spool-path={root / 'spool'}\nlog-level-console=warn\nlog-level-file=info\nstart-fast=y\n"
        "compress-type=zst\ncompress-level=1\nprocess-max=2\n"
        f"\n[{STANZA}]\npg1-path={server.data}\npg1-port={server.port}\npg1-socket-path={root}\npg1-user=ntjp\n"
    )
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        for path in root.rglob("*"):
            shutil.chown(path, "postgres", "postgres")
    run([str(pg_bin() / "initdb"), "-D", str(server.data), "-U", "ntjp", "--auth=trust", "-E", "UTF8",
         "--locale=C.UTF-8"])  # fmt: skip
    with open(server.data / "postgresql.conf", "a") as conf:
        conf.write(
            "\nwal_level = replica\narchive_mode = on\n"
            f"archive_command = 'pgbackrest --config={config} --stanza={STANZA} archive-push %p'\n"
            "max_wal_senders = 3\nmax_connections = 100\nfsync = off\n"
        )
    server.start()
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE ntjp")
    archive = Archive(root, config, server)
    archive.pgbackrest("stanza-create")
    archive.pgbackrest("check")
    return archive
