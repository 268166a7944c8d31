"""Harvest protection: the law gives consumers lookups in the register, not a copy of it.

Two rules, for every consumer but IVO (which supervises the whole register and keeps full access):

- **Specificity.** A search names a person: a surname or given name of at least
  ``min_name_letters`` letters, together with a birth date or a profession. Walking every birth
  date, or every profession in a municipality, is not a lookup.
- **Quota.** A rolling quota of persons returned per consumer (per HSA-id, the original consumer
  through the platform; a person answered twice counts twice), counted per hour in the database in
  the same transaction as each call's audit record, so it holds across workers, nodes and restarts,
  and a check reads at most 25 hourly rows. The window is ``quota_hours`` plus the current hour.
  Quotas are per consumer in the registry; the settings give the default.

A refused call is a Client fault that says why, and is audited with its reason. Reaching a quota
is a ``harvest_suspected`` event for operations (``on_suspected``), once per consumer and window
in each process, and a counted metric.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from ntjp_producer import refusals
from ntjp_producer.hosp.access import ConsumerType
from ntjp_producer.hosp.names import name_key


class Refusal(refusals.NotPermitted):
    """Harvest protection says no; answered as access denied, audited with its reason."""


class NotSpecific(Refusal):
    """A search that could enumerate the register."""


class QuotaReached(Refusal):
    """The consumer has been answered with as many persons as its quota allows in the window."""


@dataclass
class Tally:
    """The quota's count for one call: persons answered to ``hsa_id`` since the hour ``since`` falls
    in. The register's read fills ``used`` in the statement that fetches the persons (a column of
    its own), so the quota check costs no statement, and no round trip, of its own."""

    hsa_id: str
    since: dt.datetime
    used: int | None = None


@dataclass(frozen=True)
class Limits:
    min_name_letters: int = 2
    quota_persons: int = 2000  # default quota for a consumer the registry gives none; 0: no quota
    quota_hours: float = 24.0


class HarvestGuard:
    def __init__(
        self,
        persons_returned_since: Callable[[str, dt.datetime], int],
        limits: Limits,
        quotas: dict[str, int] | None = None,
        on_suspected: Callable[[str, str, int, int], None] | None = None,
        on_refused: Callable[[str | None, str | None, str], None] | None = None,
    ) -> None:
        self._on_refused = on_refused
        self._returned_since = persons_returned_since
        self.limits = limits
        self.quotas = quotas or {}
        self._on_suspected = on_suspected
        self._reported: dict[str, dt.datetime] = {}

    def refused(self, hsa_id: str | None, consumer_type: str | None, reason: str) -> None:
        """Count a refusal (the metric operations watch)."""
        if self._on_refused is not None:
            self._on_refused(hsa_id, consumer_type, reason)

    def check_search(self, criteria: dict[str, str], consumer: ConsumerType) -> None:
        """Raises NotSpecific unless the criteria name a person well enough to be a lookup."""
        if consumer is ConsumerType.IVO:
            return
        n = self.limits.min_name_letters
        named = any(len(name_key(criteria.get(k) or "")) >= n for k in ("surname", "givenName"))
        narrowed = bool(criteria.get("birthDate") or criteria.get("professionCode"))
        if not (named and narrowed):
            raise NotSpecific(
                f"Search not specific enough: give a surname or given name of at least {n} letters together "
                "with birthDate or professionCode (the register answers lookups, not lists)"
            )

    def _quota(self, hsa_id: str | None, consumer: ConsumerType) -> int:
        """The consumer's quota; 0 when none applies (IVO, no HSA-id, a registry quota of 0)."""
        if consumer is ConsumerType.IVO or hsa_id is None:
            return 0
        return max(self.quotas.get(hsa_id, self.limits.quota_persons), 0)

    def tally(self, hsa_id: str | None, consumer: ConsumerType, now: dt.datetime | None = None) -> Tally | None:
        """What the register's read should count for this call's quota check; None if no quota applies."""
        if not self._quota(hsa_id, consumer):
            return None
        now = now or dt.datetime.now(dt.UTC)
        return Tally(hsa_id, now - dt.timedelta(hours=self.limits.quota_hours))

    def admit(
        self,
        hsa_id: str | None,
        consumer: ConsumerType,
        persons: list[str],
        now: dt.datetime | None = None,
        tally: Tally | None = None,
    ) -> None:
        """Raises QuotaReached if answering with ``persons`` would take the consumer past its quota.
        The count is ``tally``'s when the register's read filled it, else read here."""
        quota = self._quota(hsa_id, consumer)
        if not quota or not persons:
            return
        now = now or dt.datetime.now(dt.UTC)
        if tally is not None and tally.used is not None and tally.hsa_id == hsa_id:
            since, used = tally.since, tally.used
        else:
            since = now - dt.timedelta(hours=self.limits.quota_hours)
            used = self._returned_since(hsa_id, since)
        if used + len(persons) <= quota:
            return
        last = self._reported.get(hsa_id)
        if self._on_suspected is not None and (last is None or last < since):
            self._reported[hsa_id] = now
            self._on_suspected(hsa_id, consumer.value, used, quota)
        raise QuotaReached(
            f"Quota reached: your organisation has been answered with {used} persons in the last "
            f"{self.limits.quota_hours:g} hours, and may be answered with {quota}. Contact Socialstyrelsen "
            "if your lookups need more."
        )
