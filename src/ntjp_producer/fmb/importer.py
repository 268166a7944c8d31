"""Importing a release: decide per item whether it is new, removed, changed in meaning or only
edited, version accordingly, and apply everything in one transaction or nothing at all.

Rules (from the service contract's versioning section):
- new item: active, version 1;
- item missing from the release: validity ends the day before the import, version + 1;
- meaning changed (codes, conditions, sick-leave length, unit, degree, validity): version + 1;
- text-only edit: version kept, ``senastAndrad`` moves;
- a kind's ``senasteVersionsuppdatering`` moves with any version change in it, its
  ``senateAndring`` with any change at all; the same release twice moves nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ntjp_producer import clock
from ntjp_producer.fmb import versioning
from ntjp_producer.fmb.models import KINDS, FmbImport, FmbItem, FmbItemDiagnos, FmbState
from ntjp_producer.fmb.release import Release, ReleaseItem, read_release

log = logging.getLogger(__name__)


@dataclass
class KindChanges:
    new: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    meaning_changed: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def version_changed(self) -> bool:
        return bool(self.new or self.removed or self.meaning_changed)

    @property
    def changed(self) -> bool:
        return self.version_changed or bool(self.edited)

    def summary(self) -> dict[str, int]:
        return {
            "new": len(self.new),
            "removed": len(self.removed),
            "meaning_changed": len(self.meaning_changed),
            "edited": len(self.edited),
            "unchanged": self.unchanged,
        }


@dataclass
class ReleaseReport:
    release_version: str | None
    changes: dict[str, KindChanges]
    stamp: str | None

    @property
    def changed(self) -> bool:
        return any(c.changed for c in self.changes.values())


def import_release(
    sessions: sessionmaker[Session], folder: str | Path, *, at: dt.datetime | None = None
) -> ReleaseReport:
    """Read, check and apply a release. Raises ReleaseError and changes nothing if it is broken."""
    release = read_release(folder)
    return apply_release(sessions, release, at=at or clock.now())


def apply_release(sessions: sessionmaker[Session], release: Release, *, at: dt.datetime) -> ReleaseReport:
    import_day = clock.today(at)
    with sessions.begin() as session:
        states = {s.kind: s for s in session.scalars(select(FmbState).with_for_update())}
        stamp = versioning.next_stamp(
            at, [v for s in states.values() for v in (s.senate_andring, s.senaste_versionsuppdatering)]
        )
        report = ReleaseReport(release.version, {}, None)
        for kind in KINDS:
            changes = _apply_kind(session, kind, release.items[kind], at, import_day)
            report.changes[kind] = changes
            state = states.get(kind)
            if state is None:
                session.add(
                    FmbState(
                        kind=kind,
                        senaste_versionsuppdatering=stamp,
                        senate_andring=stamp,
                        release_version=release.version,
                        release_built=release.built,
                        imported_at=at,
                    )
                )
            elif changes.changed:
                if changes.version_changed:
                    state.senaste_versionsuppdatering = stamp
                state.senate_andring = stamp
                state.release_version = release.version
                state.release_built = release.built
                state.imported_at = at
        if report.changed or not states:
            report.stamp = stamp
            session.add(
                FmbImport(
                    imported_at=at,
                    source=release.source,
                    release_version=release.version,
                    summary={k: c.summary() for k, c in report.changes.items()},
                )
            )
    log.info(
        "fmb import done",
        extra={"release": release.version, "changes": {k: c.summary() for k, c in report.changes.items()}},
    )
    return report


def _apply_kind(
    session: Session, kind: str, incoming: dict[str, ReleaseItem], at: dt.datetime, import_day: dt.date
) -> KindChanges:
    changes = KindChanges()
    existing = {row.item_id: row for row in session.scalars(select(FmbItem).where(FmbItem.kind == kind))}
    for item_id, item in incoming.items():
        row = existing.get(item_id)
        if row is None:
            session.add(_new_row(item))
            changes.new.append(item_id)
            continue
        if row.removed_on is not None or row.meaning_digest != item.meaning_digest:
            row.version += 1
            changes.meaning_changed.append(item_id)
        elif row.content_digest != item.content_digest:
            changes.edited.append(item_id)
        else:
            changes.unchanged += 1
            continue
        row.removed_on = None
        row.giltig_start, row.giltig_slut = item.giltig_start, item.giltig_slut
        row.meaning_digest, row.content_digest = item.meaning_digest, item.content_digest
        row.attributes = item.attributes
        row.senast_andrad = at
        _set_diagnoser(row, item.diagnoskoder)
    for item_id, row in existing.items():
        if item_id in incoming or row.removed_on is not None:
            continue
        row.removed_on = import_day
        row.giltig_slut = import_day - dt.timedelta(days=1)
        row.version += 1
        row.senast_andrad = at
        changes.removed.append(item_id)
    return changes


def _new_row(item: ReleaseItem) -> FmbItem:
    row = FmbItem(
        kind=item.kind,
        item_id=item.item_id,
        version=1,
        giltig_start=item.giltig_start,
        giltig_slut=item.giltig_slut,
        senast_andrad=item.senast_uppdaterad,
        meaning_digest=item.meaning_digest,
        content_digest=item.content_digest,
        attributes=item.attributes,
    )
    _set_diagnoser(row, item.diagnoskoder)
    return row


def _set_diagnoser(row: FmbItem, koder: tuple[str, ...]) -> None:
    current = {d.kod for d in row.diagnoser}
    if current == set(koder):
        return
    row.diagnoser[:] = [d for d in row.diagnoser if d.kod in koder]
    row.diagnoser.extend(FmbItemDiagnos(kod=k) for k in koder if k not in current)
