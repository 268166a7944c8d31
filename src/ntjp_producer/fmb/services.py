"""FMB queries, the one place both the SOAP services and the JSON API ask.

FMB changes only on import, while consumers read it all day, so each process keeps a snapshot of
the material and reloads it when the stored version stamps move. One small query per call reads
them, so an import is seen by every worker and every node sharing the database with the next call;
a snapshot is only taken as the stamps' once the stamps read after loading it are still the same,
so a response never mixes releases. Whatever an adapter derives from a data version (the SOAP
adapter's serialised items) it keeps in the snapshot's ``prepared`` memo, which lives and dies
with that version.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from ntjp_producer import clock, refusals
from ntjp_producer.fmb import codes, material
from ntjp_producer.fmb.models import DIAGNOSINFORMATION, STATE_CHANNEL, TYPFALL, FmbImport, FmbItem, FmbState
from ntjp_producer.storage import db


class NoFmbData(refusals.NotAvailable, LookupError):
    """Nothing has been imported yet: there is no version to answer with."""

    def __init__(self, message: str = "No FMB data has been imported into this producer yet") -> None:
        super().__init__(message)


@dataclass(frozen=True)
class Dokument:
    """One item as the open API published it, beside the producer's own versioning facts.

    ``attributes`` are the imported ones, untouched; ``version``, ``giltighet`` and ``aktiv`` are
    the producer's, the same the SOAP services answer with, so the two never disagree.
    """

    id: str
    attributes: dict[str, Any]
    version: int
    giltighet: material.Giltighet
    senast_andrad: dt.datetime
    aktiv: bool


@dataclass(frozen=True)
class Dokumentsamling:
    dokument: list[Dokument]
    version: material.Version
    release_version: str | None
    release_built: str | None
    # When the answer last changed: the import, or a validity day that has since begun or ended.
    last_modified: dt.datetime


class Urval(NamedTuple):
    """A selection from one data version: the items, that version's block, and its memo."""

    items: list[Any]
    version: material.Version
    # Adapters' derived data for this very data version (thread-safe dict operations only).
    prepared: dict[Any, Any]


@dataclass(frozen=True)
class _Snapshot:
    token: tuple[str, str]
    version: material.Version
    items: list[Any]
    by_code: dict[str, list[Any]]
    raw: dict[int, tuple[str, dict[str, Any], dt.datetime]]  # id(item) -> (id, attributes, senast_andrad)
    release: tuple[str | None, str | None]
    changed_at: dt.datetime  # the later of the two version stamps, as an instant
    boundaries: tuple[dt.date, ...]  # sorted days on which an item's validity begins or has ended
    prepared: dict[Any, Any]
    order: dict[int, int]  # id(item) -> its place in ``items``


_STATE_SQL = "SELECT kind, senaste_versionsuppdatering, senate_andring FROM fmb_state"

_BUILDERS: dict[str, Callable[..., Any]] = {
    TYPFALL: material.beslutsunderlag,
    DIAGNOSINFORMATION: material.diagnosinformation,
}


def _sort_key(item_id: str) -> tuple[int, int | str]:
    return (0, int(item_id)) if item_id.isdigit() else (1, item_id)


def _last_change(snap: _Snapshot, day: dt.date) -> dt.datetime:
    """The import time, or the start of the latest validity day (start, or day after an end) since.

    The active set changes at midnight when an item's validity begins or ends, without an import;
    a conditional GET must see that as a change.
    """
    passed = bisect.bisect_right(snap.boundaries, day)
    if not passed:
        return snap.changed_at
    midnight = dt.datetime.combine(snap.boundaries[passed - 1], dt.time(), clock.SWEDEN).astimezone(dt.UTC)
    return max(snap.changed_at, midnight)


def _boundaries(items: list[Any]) -> tuple[dt.date, ...]:
    days = {i.giltighet.start for i in items}
    days |= {i.giltighet.slut + dt.timedelta(days=1) for i in items if i.giltighet.slut}
    return tuple(sorted(days))


class FmbService:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._stamps = db.SmallRead(sessions.kw["bind"], _STATE_SQL, channel=STATE_CHANNEL)
        self._snapshots: dict[str, _Snapshot] = {}
        self._lock = threading.Lock()

    # -- snapshot ---------------------------------------------------------------------------

    def tokens(self, *, fresh: bool = False) -> dict[str, tuple[str, str]]:
        """The stored version stamps per kind: the one read every call makes (``db.SmallRead``),
        and the key of everything derived from a data version. ``fresh``: read from the database
        even where a change would have been notified (when a snapshot is loaded)."""
        return {kind: (svu, sa) for kind, svu, sa in self._stamps.rows(fresh=fresh)}

    def _snapshot(self, kind: str) -> _Snapshot:
        current = self._snapshots.get(kind)
        if current is not None and current.token == self.tokens().get(kind):
            return current
        for _ in range(10):
            token = self.tokens(fresh=True).get(kind)
            if token is None:
                raise NoFmbData()
            current = self._snapshots.get(kind)
            if current is not None and current.token == token:
                return current
            with self._lock:  # one load per process and version; other threads wait for it
                current = self._snapshots.get(kind)
                if current is not None and current.token == token:
                    return current
                snap = self._load(kind)
                if snap is not None and snap.token == token:
                    self._snapshots[kind] = snap
                    return snap
        raise RuntimeError("FMB data kept changing while it was read")

    def prepared(self, kind: str) -> dict[Any, Any]:
        """The adapters' memo of the data version stored now (the stamps are read for it, as for
        every question): what they keep there is never served once an import has landed."""
        return self._snapshot(kind).prepared

    def _load(self, kind: str) -> _Snapshot | None:
        """The material of one data version, or None when an import committed while it was read."""
        with self._sessions() as session:
            state = session.get(FmbState, kind, populate_existing=True)
            if state is None:
                return None
            token = (state.senaste_versionsuppdatering, state.senate_andring)
            rows = session.scalars(select(FmbItem).where(FmbItem.kind == kind)).all()
            build = _BUILDERS[kind]
            items = []
            by_code: dict[str, list[Any]] = {}
            raw: dict[int, tuple[str, dict[str, Any], dt.datetime]] = {}
            for row in sorted(rows, key=lambda r: _sort_key(r.item_id)):
                obj = build(
                    row.item_id, row.version, row.giltig_start, row.giltig_slut, row.senast_andrad, row.attributes
                )
                items.append(obj)
                raw[id(obj)] = (row.item_id, row.attributes, clock.as_utc(row.senast_andrad))
                for d in row.diagnoser:
                    by_code.setdefault(d.kod, []).append(obj)
            release = (state.release_version, state.release_built)
        # READ COMMITTED (PostgreSQL) and autocommit reads (SQLite) may see an import land between
        # the statements above: the items are this version's only if the stamps have not moved.
        if self.tokens(fresh=True).get(kind) != token:
            return None
        return _Snapshot(
            token,
            material.Version(*token),
            items,
            by_code,
            raw,
            release,
            # The change stamp, not the import's clock: stamps are strictly later for each change,
            # so even two imports within one second give If-Modified-Since a later time.
            max(clock.parse_stamp(token[0]), clock.parse_stamp(token[1])).astimezone(dt.UTC),
            _boundaries(items),
            {},
            {id(item): n for n, item in enumerate(items)},
        )

    # -- queries ----------------------------------------------------------------------------

    def _select(
        self, snap: _Snapshot, diagnoskoder: Iterable[str] | None, aven_ej_aktiva: bool, today: dt.date
    ) -> list[Any]:
        def visible(item: Any) -> bool:
            return aven_ej_aktiva or item.giltighet.active_on(today)

        koder = [codes.normalise(k) for k in diagnoskoder or []]
        if not koder:
            return [i for i in snap.items if visible(i)]
        chosen: dict[int, Any] = {}
        for kod in koder:
            for candidate in codes.lineage(kod):
                found = [i for i in snap.by_code.get(candidate, []) if visible(i)]
                if found:
                    chosen.update((id(i), i) for i in found)
                    break
        order = snap.order
        return sorted(chosen.values(), key=lambda i: order[id(i)])

    def beslutsunderlag(
        self,
        *,
        diagnoskoder: Iterable[str] | None = None,
        underlags_ids: Iterable[str] | None = None,
        aven_ej_aktiva: bool = False,
        today: dt.date | None = None,
    ) -> Urval:
        """GetFmb's question. Raises InvalidDiagnosisCode for a malformed code."""
        snap = self._snapshot(TYPFALL)
        found = self._select(snap, diagnoskoder, aven_ej_aktiva, today or clock.today())
        ids = {i.strip() for i in underlags_ids or [] if i is not None}
        if ids:
            found = [b for b in found if b.underlags_id in ids]
        return Urval(found, snap.version, snap.prepared)

    def diagnosinformation(
        self,
        *,
        diagnoskoder: Iterable[str] | None = None,
        aven_ej_aktiva: bool = False,
        today: dt.date | None = None,
    ) -> Urval:
        snap = self._snapshot(DIAGNOSINFORMATION)
        return Urval(self._select(snap, diagnoskoder, aven_ej_aktiva, today or clock.today()), snap.version,
                     snap.prepared)  # fmt: skip

    def dokument(
        self,
        kind: str,
        *,
        diagnoskoder: Iterable[str] | None = None,
        ids: Iterable[str] | None = None,
        aven_ej_aktiva: bool = False,
        today: dt.date | None = None,
    ) -> Dokumentsamling:
        """The open API's question: the same selection as GetFmb / GetDiagnosInformation, as imported.

        Raises InvalidDiagnosisCode for a malformed code and NoFmbData before any import.
        """
        day = today or clock.today()
        snap = self._snapshot(kind)
        found = self._select(snap, diagnoskoder, aven_ej_aktiva, day)
        wanted = {i.strip() for i in ids or [] if i is not None}
        dokument = []
        for item in found:
            item_id, attributes, senast_andrad = snap.raw[id(item)]
            if wanted and item_id not in wanted:
                continue
            dokument.append(
                Dokument(
                    item_id, attributes, item.version, item.giltighet, senast_andrad, item.giltighet.active_on(day)
                )
            )
        return Dokumentsamling(
            dokument, snap.version, snap.release[0], snap.release[1], _last_change(snap, day)
        )

    def versioner(self) -> material.Versioner:
        states = self.tokens()
        if set(states) != {TYPFALL, DIAGNOSINFORMATION}:
            raise NoFmbData()
        return material.Versioner(material.Version(*states[TYPFALL]), material.Version(*states[DIAGNOSINFORMATION]))

    def health(self) -> dict[str, str]:
        """What PingForConfiguration reports: database reachable, which release, imported when."""
        try:
            with self._sessions() as session:
                session.execute(text("SELECT 1"))
                state = session.get(FmbState, TYPFALL)
                last = session.scalars(select(FmbImport).order_by(FmbImport.pk.desc()).limit(1)).first()
        except Exception:
            return {"dbStatus": "error"}
        result = {"dbStatus": "ok"}
        if state is None:
            result["dataStatus"] = "no release imported"
        else:
            result["dataStatus"] = "ok"
            result["fmbRelease"] = state.release_version or "unknown"
            result["fmbSenateAndring"] = state.senate_andring
        if last is not None:
            result["lastImport"] = clock.stamp(clock.as_utc(last.imported_at))
        return result
