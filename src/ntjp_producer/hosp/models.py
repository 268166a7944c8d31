"""HoSp tables: the register (one JSON record per person, plus search rows) and the audit trail.

The register is the service's own store, filled only by ``hosp import``. ``hosp_search`` holds one
row per person (profession '') and one per licensed profession, each carrying the columns a search
may filter on and one ordering key, so every search is one ordered index range with a limit.

The audit trail is append-only: the migration puts triggers on both audit tables that refuse
UPDATE and DELETE, in SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ntjp_producer.storage.base import Base


def binary_text(length: int):
    """Text compared code point by code point, so prefix ranges behave alike in both databases."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class HospPerson(Base):
    __tablename__ = "hosp_person"

    pnr: Mapped[str] = mapped_column(String(12), primary_key=True)
    record: Mapped[dict] = mapped_column(JSON)
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class HospSearch(Base):
    __tablename__ = "hosp_search"
    __table_args__ = (
        Index("ix_hosp_search_sort", "profession", "sort_key"),
        Index("ix_hosp_search_birth", "profession", "birth_date", "sort_key"),
        Index("ix_hosp_search_municipality", "profession", "municipality", "sort_key"),
        Index("ix_hosp_search_county", "profession", "county", "sort_key"),
        Index("ix_hosp_search_given", "profession", "given_key"),
    )

    pnr: Mapped[str] = mapped_column(String(12), primary_key=True)
    profession: Mapped[str] = mapped_column(String(4), primary_key=True)  # '' for the person's own row
    birth_date: Mapped[str] = mapped_column(String(8))  # YYYYMMDD
    county: Mapped[str | None] = mapped_column(String(2), nullable=True)
    municipality: Mapped[str | None] = mapped_column(String(4), nullable=True)
    given_key: Mapped[str] = mapped_column(binary_text(200))
    # surname key, US, given-name key, US, pnr: the stable order, and a surname prefix is a range of it
    sort_key: Mapped[str] = mapped_column(binary_text(420))


class HospState(Base):
    """What is loaded: one row, for PingForConfiguration and operators."""

    __tablename__ = "hosp_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    persons: Mapped[int] = mapped_column(Integer)
    last_import: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_kind: Mapped[str] = mapped_column(String(8))
    last_source: Mapped[str] = mapped_column(Text)


class HospAudit(Base):
    __tablename__ = "hosp_audit"
    __table_args__ = (Index("ix_hosp_audit_consumer", "consumer_hsaid", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    correlation_id: Mapped[str] = mapped_column(String(128))
    # What a direct consumer sent as its correlation id (only the platform's is taken as the call's).
    consumer_correlation_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # Why a call was refused, when harvest protection refused it ("not specific", "quota").
    refusal: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The consumer the call was made for (via the platform: the original consumer), not the TLS peer.
    consumer_hsaid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    via_platform: Mapped[bool] = mapped_column(Boolean)
    platform_hsaid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    consumer_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    contract: Mapped[str] = mapped_column(String(64))
    criteria: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    returned: Mapped[list] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(32))


class HospAuditPerson(Base):
    """Which persons a call concerned, asked for or answered with: "who looked at this person"."""

    __tablename__ = "hosp_audit_person"
    # On SQLite the key is the table (migration 0009): one B-tree insert per person, not two.
    __table_args__ = {"sqlite_with_rowid": False}

    pnr: Mapped[str] = mapped_column(String(12), primary_key=True)  # first: lookups by person use the key
    audit_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("hosp_audit.id"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(10), primary_key=True)  # 'asked' or 'returned'


class HospReturnedHour(Base):
    """Persons answered per consumer and hour, written with each call's audit record: what harvest
    protection's rolling quota sums (at most 25 rows a call, however busy the consumer)."""

    __tablename__ = "hosp_returned_hour"

    consumer_hsaid: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    persons: Mapped[int] = mapped_column(Integer)
