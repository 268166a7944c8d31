"""All configuration in one place: defaults, then a TOML file, then environment variables, then
the command line, each overriding the one before.

    [producer]
    db = "sqlite:///var/ntjp.db"
    tls_dir = "var/tls"
    logical_addresses = ["SE2021000555"]

Environment variables are ``NTJP_`` plus the upper-cased name (``NTJP_DB``, ``NTJP_BIND``);
list values are comma separated.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Any

# Socialstyrelsen's organisation number (202100-0555), the logical address of the national FMB
# instance; a deployment configures its own.
DEFAULT_LOGICAL_ADDRESS = "SE2021000555"


@dataclass(frozen=True)
class Settings:
    service: str = "fmb"
    db: str = "sqlite:///var/ntjp.db"
    bind: str = "127.0.0.1:8443"
    tls_dir: str = "var/tls"
    logical_addresses: tuple[str, ...] = field(default=(DEFAULT_LOGICAL_ADDRESS,))
    # FMB: TLS peers that are the national platform (HSA-id in the certificate), whose correlation id
    # is taken as the call's. HoSp names them in its consumer registry instead.
    platform_hsaids: tuple[str, ...] = field(default=("SE165565594230-1000",))
    workers: int = 2
    # Per worker. A slow or stalled client holds a thread for request_timeout at most, and a
    # handshake none at all (transport/worker.py), so a few dozen threads leave most of them free.
    threads: int = 32
    handshake_timeout: float = 5.0  # seconds from accept to a completed TLS handshake
    request_timeout: float = 10.0  # seconds to receive a whole request, head and body
    write_timeout: float = 30.0  # seconds a client may take to take an answer off our hands
    # While serving: how long a call waits for a database lock (the audit trail's, say) before it
    # fails with a Server fault, and how long one statement may run.
    db_lock_timeout: float = 2.0
    db_statement_timeout: float = 30.0
    # HoSp harvest protection (hosp/harvest.py), for every consumer but IVO: a search names a person
    # (this many letters of a name, with a birth date or profession), and a rolling quota of persons
    # answered per consumer; the registry may give a consumer its own quota (0: none).
    harvest_min_name_letters: int = 2
    harvest_quota_persons: int = 2000
    harvest_quota_hours: float = 24.0
    max_body_bytes: int = 1024 * 1024
    log_level: str = "INFO"
    timeout: int = 30
    # On SIGTERM: seconds a node keeps answering, /health saying "draining" and every answer closing
    # its connection, so the load balancer moves new calls elsewhere before the node stops; then
    # up to graceful_timeout for the calls in flight. Ctrl-C (SIGINT) stops at once.
    drain_seconds: float = 5.0
    # `fmb import URL`: the source's ETag and Last-Modified from the last fetch (conditional GET).
    fmb_source_state: str = "var/fmb-source.json"
    fmb_fetch_timeout: float = 30.0  # seconds per request to connect, and between bytes
    fmb_fetch_attempts: int = 5  # per request, with back-off 2, 4, 8, 16 s (or the source's Retry-After)
    graceful_timeout: int = 10
    # The producer's own base URL as consumers reach it (JSON API links); empty: from the request.
    base_url: str = ""
    # HoSp's consumer registry (TOML); empty: consumers.toml in the TLS folder.
    consumers: str = ""
    # Operations: metrics and status page on their own plain-HTTP listener ("" switches it off).
    ops_bind: str = "127.0.0.1:9100"
    measure: bool = True
    ops_flush_seconds: float = 5.0  # how often each worker adds its per-minute figures to the database
    # SLAs (reference: FMB 95 % under 10 s, HoSp 95 % under 1 s, 99.5 % available weekdays 09-17).
    sla_fmb_seconds: float = 10.0
    sla_hosp_seconds: float = 1.0
    sla_share: float = 0.95
    availability_target: float = 0.995
    service_hours: str = "09-17"  # Swedish time, on service_days
    service_days: str = "1-5"  # ISO weekdays, Monday = 1
    alert_error_share: float = 0.05  # rolling 5 minutes; above it, one sla_breach event
    alert_min_calls: int = 20  # fewer calls than this in the window say nothing either way: no alert
    # Uptime: a probe round (Ping, and GetVersions for FMB) over mutual TLS every probe_seconds (0: off),
    # to probe_url (default: this node's bind address) with the platform's certificate (probe_cert/_key,
    # default the dev ntjp client in tls_dir/clients).
    probe_seconds: float = 30.0
    probe_url: str = ""
    probe_cert: str = ""
    probe_key: str = ""
    alert_check_seconds: float = 15.0
    # PostgreSQL backups (pgBackRest; docs/operations.md). SQLite is backed up to a file named at the command.
    backup_config: str = "/etc/pgbackrest/pgbackrest.conf"
    backup_stanza: str = "ntjp"
    backup_retention_full: int = 2  # full backups kept (with their incrementals and the WAL they need)
    backup_os_user: str = "postgres"  # pgBackRest runs as the database's own user when started as root
    # Drills and tests only: x-ntjp-inject-delay-ms and x-ntjp-inject-fault headers take effect.
    inject_faults: bool = False

    def __post_init__(self) -> None:
        """Refuse, with one line naming the setting, what would start fine and then fail or silently
        count nothing: the operations figures are what the SLA is judged by."""
        for name in ("sla_fmb_seconds", "sla_hosp_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"setting {name}: must be more than 0 seconds, not {getattr(self, name)}")
        for name in ("sla_share", "availability_target"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"setting {name}: a share between 0 and 1 (0.95 is 95 %), not {getattr(self, name)}")
        if not 0 <= self.alert_error_share <= 1:
            raise ValueError(f"setting alert_error_share: a share between 0 and 1, not {self.alert_error_share}")
        if self.probe_seconds < 0:
            raise ValueError(f"setting probe_seconds: 0 (off) or more, not {self.probe_seconds}")
        if self.alert_min_calls < 0:
            raise ValueError(f"setting alert_min_calls: 0 or more, not {self.alert_min_calls}")
        _span("service_hours", self.service_hours, 0, 24)
        _span("service_days", self.service_days, 1, 7)

    def with_overrides(self, **values: Any) -> Settings:
        clean = {k: v for k, v in values.items() if v is not None}
        if "logical_addresses" in clean:
            clean["logical_addresses"] = tuple(clean["logical_addresses"])
        return replace(self, **clean)

    @property
    def tls_path(self) -> Path:
        return Path(self.tls_dir)

    def sla_seconds(self, service: str) -> float:
        return self.sla_hosp_seconds if service == "hosp" else self.sla_fmb_seconds

    @cached_property  # read once a minute of every report span: parsed once (validated at creation)
    def service_hour_range(self) -> tuple[int, int]:
        """(first hour, end hour); end before start wraps past midnight: "22-06" is 22:00 to 06:00."""
        return _span("service_hours", self.service_hours, 0, 24)

    @cached_property
    def service_day_range(self) -> tuple[int, int]:
        """(first, last) ISO weekday, both included; last before first wraps: "6-1" is Saturday to Monday."""
        return _span("service_days", self.service_days, 1, 7)

    @property
    def consumers_path(self) -> Path:
        return Path(self.consumers) if self.consumers else self.tls_path / "consumers.toml"


def _span(name: str, value: str, low: int, high: int) -> tuple[int, int]:
    """ "09-17" -> (9, 17); a range that wraps is allowed, one that holds no time is refused."""
    start, dash, end = str(value).partition("-")
    try:
        first, last = int(start), int(end if dash else start)
    except ValueError:
        raise ValueError(f"setting {name}: '{value}' is not a range like '{low:02d}-{high:02d}'") from None
    if not (low <= first <= high and low <= last <= high):
        raise ValueError(f"setting {name}: '{value}' is outside {low}-{high}")
    if name == "service_hours" and first == last:
        raise ValueError(f"setting {name}: '{value}' holds no time (for the whole day: '00-24')")
    return first, last


def _coerce(name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    if "tuple" in str(kind):
        return tuple(v.strip() for v in value.split(",") if v.strip()) if isinstance(value, str) else tuple(value)
    if kind == "int" or kind is int:
        return int(value)
    if kind == "float" or kind is float:
        return float(value)
    if kind == "bool" or kind is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"setting {name}: '{value}' is not true or false")
    return str(value)


def load(config_file: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or environ.get("NTJP_CONFIG")
    if path:
        with open(path, "rb") as fh:
            section = tomllib.load(fh).get("producer", {})
        unknown = set(section) - {f.name for f in fields(Settings)}
        if unknown:
            raise ValueError(f"{path}: unknown settings {sorted(unknown)}")
        values.update({k: _coerce(k, v) for k, v in section.items()})
    for f in fields(Settings):
        env = environ.get(f"NTJP_{f.name.upper()}")
        if env is not None:
            values[f.name] = _coerce(f.name, env)
    return Settings(**values)
