"""FMB tables.

Each item (a typfall or a diagnosinformation) keeps the open API's attributes exactly as imported,
so the JSON API can give them back value for value, beside the producer's own versioning facts,
which the upstream data cannot be trusted to carry (its ``version`` almost never moves).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ntjp_producer.storage.base import Base

TYPFALL = "typfall"
DIAGNOSINFORMATION = "diagnosinformation"
# PostgreSQL notifies this channel at every commit that changes fmb_state (migration 0008).
STATE_CHANNEL = "ntjp_fmb_state"
KINDS = (TYPFALL, DIAGNOSINFORMATION)


class FmbItem(Base):
    __tablename__ = "fmb_item"
    __table_args__ = (UniqueConstraint("kind", "item_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    item_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    giltig_start: Mapped[dt.date] = mapped_column(Date)
    giltig_slut: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    # Set when the item vanished from a release; the validity end above is then ours, not upstream's.
    removed_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    senast_andrad: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    meaning_digest: Mapped[str] = mapped_column(String(64))
    content_digest: Mapped[str] = mapped_column(String(64))
    attributes: Mapped[dict] = mapped_column(JSON)

    diagnoser: Mapped[list[FmbItemDiagnos]] = relationship(
        back_populates="item", cascade="all, delete-orphan", lazy="selectin"
    )


class FmbItemDiagnos(Base):
    """Normalised ICD-10-SE codes an item applies to, for lookup by code."""

    __tablename__ = "fmb_item_diagnos"

    item_pk: Mapped[int] = mapped_column(ForeignKey("fmb_item.pk", ondelete="CASCADE"), primary_key=True)
    kod: Mapped[str] = mapped_column(String(16), primary_key=True, index=True)

    item: Mapped[FmbItem] = relationship(back_populates="diagnoser")


class FmbState(Base):
    """Version timestamps per kind, stored as the exact strings consumers compare for equality."""

    __tablename__ = "fmb_state"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    senaste_versionsuppdatering: Mapped[str] = mapped_column(String(14))
    senate_andring: Mapped[str] = mapped_column(String(14))
    release_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    release_built: Mapped[str | None] = mapped_column(String(64), nullable=True)
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class FmbImport(Base):
    """One row per import that changed something, for operations and PingForConfiguration."""

    __tablename__ = "fmb_import"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(Text)
    release_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    summary: Mapped[dict] = mapped_column(JSON)
