"""Backing the database up and bringing it back, with the database's own tools.

The HoSp audit trail is a legal record and the register must come back within hours, so nothing
here is home-made: SQLite (the embedded default) is copied through its online backup API, a
consistent snapshot taken while the producer goes on writing (WAL mode); PostgreSQL is backed up
by pgBackRest (full and incremental backups, continuous WAL archiving, point-in-time restore),
configured once (``deploy/backup/``, docs/operations.md) and driven from here so that an operator
runs the same two commands whatever the database is.

A restore never half-happens: a damaged or missing backup is refused before anything is touched,
and the new database appears under its name only once it is whole.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ntjp_producer.settings import Settings

SQLITE_HEADER = b"SQLite format 3\x00"
BACKUP_TYPES = ("full", "diff", "incr")


class BackupError(Exception):
    """One line for the operator: what is wrong, and that nothing was changed."""


@dataclass(frozen=True)
class Done:
    what: str  # one line for the operator
    seconds: float


def sqlite_path(url: str) -> Path | None:
    """The file behind a ``sqlite:///`` URL; None for any other database."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        return Path(url.removeprefix("sqlite:///"))
    return None


# -- backup ----------------------------------------------------------------------------------------


def backup(settings: Settings, dest: str | None, kind: str = "full") -> Done:
    started = time.monotonic()
    source = sqlite_path(settings.db)
    if source is None:
        if dest:
            raise BackupError("PostgreSQL is backed up to the pgBackRest repository of backup_config; give no DEST")
        if kind not in BACKUP_TYPES:
            raise BackupError(f"backup type must be one of {', '.join(BACKUP_TYPES)}, not '{kind}'")
        _pgbackrest(settings, "backup", f"--type={kind}", f"--repo1-retention-full={settings.backup_retention_full}")
        what = f"{kind} backup of stanza '{settings.backup_stanza}' taken by pgBackRest"
        return Done(what, time.monotonic() - started)
    if not dest:
        raise BackupError("give the file to write the backup to (DEST)")
    if not source.is_file():
        raise BackupError(f"{source}: no such database; nothing was backed up")
    target = Path(dest)
    if target.is_dir():
        raise BackupError(f"{target} is a folder; give the backup file's name")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        _sqlite_copy(source, partial, read_only=True)
        _check_sqlite(partial)
        os.replace(partial, target)
    except (sqlite3.Error, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"{source} could not be backed up ({exc}); nothing was written") from None
    size = target.stat().st_size
    return Done(f"backup of {source} written to {target} ({size:,} bytes)", time.monotonic() - started)


def _sqlite_copy(source: Path, target: Path, *, read_only: bool) -> None:
    """One backup step for the whole file: a snapshot as of one moment, while writers go on."""
    src = sqlite3.connect(f"file:{source}?mode=ro" if read_only else str(source), uri=read_only, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=WAL")  # as the producer keeps it
        finally:
            dst.close()
    finally:
        src.close()
    with open(target, "rb") as f:
        os.fsync(f.fileno())


def _check_sqlite(path: Path) -> None:
    """A backup is usable only if whole: a header, every page the header promises, pages that
    check, and the producer's schema in it. Raises BackupError saying which."""
    if not path.is_file():
        raise BackupError(f"{path}: no such backup file; nothing was restored")
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(100)
    if len(header) < 100 or not header.startswith(SQLITE_HEADER):
        raise BackupError(f"{path} is not an SQLite backup (no SQLite header); nothing was restored")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if header[92:96] == header[24:28] and pages and pages * page_size > size:
        raise BackupError(
            f"{path} is truncated ({size:,} of {pages * page_size:,} bytes); nothing was restored"
        )
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            problems = [row[0] for row in conn.execute("PRAGMA integrity_check(5)")]
            schema = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{path} is damaged ({exc}); nothing was restored") from None
    if problems != ["ok"]:
        raise BackupError(f"{path} is damaged ({problems[0]}); nothing was restored")
    if not schema:
        raise BackupError(f"{path} holds no ntjp-producer database (no schema version); nothing was restored")


# -- restore ---------------------------------------------------------------------------------------


def restore_sqlite(settings: Settings, source: str, *, replace: bool = False) -> Done:
    """The backup file checked whole, then copied in under the database's name in one rename."""
    started = time.monotonic()
    target = sqlite_path(settings.db)
    if target is None:
        raise BackupError("restoring from a file is for SQLite; for PostgreSQL give --pg-data (pgBackRest)")
    backup_file = Path(source)
    _check_sqlite(backup_file)
    if target.exists():
        if not replace:
            raise BackupError(f"{target} exists; give --replace to overwrite it (stop its producers first)")
        _refuse_if_in_use(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    restoring = target.with_name(target.name + ".restoring")
    restoring.unlink(missing_ok=True)
    try:
        _sqlite_copy(backup_file, restoring, read_only=True)
        for stale in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
            stale.unlink(missing_ok=True)  # the old database's log must not be replayed onto the new one
        os.replace(restoring, target)
    except (sqlite3.Error, OSError) as exc:
        restoring.unlink(missing_ok=True)
        raise BackupError(f"{backup_file} could not be restored to {target} ({exc})") from None
    return Done(f"{target} restored from {backup_file}", time.monotonic() - started)


def _refuse_if_in_use(path: Path) -> None:
    conn = sqlite3.connect(path, timeout=0)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        conn.rollback()
    except sqlite3.OperationalError:
        raise BackupError(f"{path} is in use; stop its producers before restoring over it") from None
    finally:
        conn.close()


def restore_postgres(settings: Settings, pg_data: str, to: str | None = None) -> Done:
    """pgBackRest restores the newest backup before ``to`` into a new data folder and sets recovery to
    replay the archived WAL up to that moment (or to the end), then promote. The operator starts
    PostgreSQL on the folder and points the producers at it (docs/operations.md)."""
    started = time.monotonic()
    folder = Path(pg_data)
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{folder} is not empty; restore into a new, empty folder")
    args = ["restore", f"--pg1-path={folder}"]
    if to:
        args += ["--type=time", f"--target={to}", "--target-action=promote"]
    if folder.exists():
        _give_to_db_user(settings, folder)
    _pgbackrest(settings, *args)
    moment = f"as it was at {to}" if to else "to the end of the archived WAL"
    return Done(f"restored stanza '{settings.backup_stanza}' into {folder}, {moment}", time.monotonic() - started)


def _give_to_db_user(settings: Settings, folder: Path) -> None:
    if os.geteuid() == 0 and settings.backup_os_user:
        with contextlib.suppress(KeyError, PermissionError):
            shutil.chown(folder, settings.backup_os_user, settings.backup_os_user)


def _pgbackrest(settings: Settings, command: str, *options: str) -> str:
    binary = shutil.which("pgbackrest")
    if binary is None:
        raise BackupError("pgBackRest is not installed (Debian package 'pgbackrest'); see docs/operations.md")
    argv = [binary, f"--config={settings.backup_config}", f"--stanza={settings.backup_stanza}", command, *options]
    if os.geteuid() == 0 and settings.backup_os_user:
        argv = ["runuser", "-u", settings.backup_os_user, "--", *argv]  # pgBackRest runs as the database's user
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        errors = [line for line in (result.stdout + result.stderr).splitlines() if "ERROR" in line]
        reason = (errors[0] if errors else (result.stderr or result.stdout).strip()[:300]).strip()
        raise BackupError(f"pgBackRest {command} failed: {reason}")
    return result.stdout
