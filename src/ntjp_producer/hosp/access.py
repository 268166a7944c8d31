"""Who may see what: förordning (2006:196) § 7 a, in one table, and the registry of consumers.

``VISIBLE_ITEMS`` is the law's matrix: for each consumer type, the § 6 items it may see. Nothing
else in the code decides visibility; the SOAP adapter drops every item not listed, and a search
criterion is refused unless the caller may see the item it searches on (``CRITERION_ITEMS``).

The registry (TOML) says which HSA-ids are which type of organisation, and which TLS peers are
the national platform. The platform could not tell public from private care providers, so this
producer keeps its own record and refuses everyone it does not know, private providers included.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class ConsumerType(StrEnum):
    IVO = "ivo"
    PUBLIC_PROVIDER = "public_provider"
    SOCIAL_SERVICES = "social_services"
    TRANSPORTSTYRELSEN = "transportstyrelsen"


ALL_ITEMS = frozenset(range(1, 13))

# § 7 a. Items: 1 name, pnr, sex; 2 folkbokföringsort; 3 profession; 4 education; 5 speciality;
# 6 issue dates; 7 time-limited expiry; 8 partial access; 9 probation, revocation; 10 prescriber
# code; 11 undersköterska certificate; 12 technical and administrative data.
VISIBLE_ITEMS: dict[ConsumerType, frozenset[int]] = {
    ConsumerType.IVO: ALL_ITEMS,
    ConsumerType.PUBLIC_PROVIDER: frozenset({1, 3, 5, 6, 7, 8, 9, 10, 11}),
    ConsumerType.SOCIAL_SERVICES: frozenset({1, 3, 11}),
    ConsumerType.TRANSPORTSTYRELSEN: frozenset({1, 3, 5, 7, 8, 9}),
}

# A criterion discloses the item it matches on.
CRITERION_ITEMS: dict[str, int] = {
    "personalIdentityNumber": 1,
    "birthDate": 1,
    "givenName": 1,
    "surname": 1,
    "professionCode": 3,
    "countyCode": 2,
    "municipalityCode": 2,
}

# Types a registry may name but that never get access (kept so an operator's intent is explicit).
REFUSED_TYPES = frozenset({"private_provider"})


class RegistryError(ValueError):
    pass


@dataclass(frozen=True)
class Registry:
    consumers: dict[str, ConsumerType]
    platform: frozenset[str]
    # Harvest protection: persons a consumer may be answered with per window (hosp/harvest.py);
    # a consumer not listed here gets the settings' default. IVO has none.
    quotas: dict[str, int] = field(default_factory=dict)

    def consumer_type(self, hsa_id: str | None) -> ConsumerType | None:
        return self.consumers.get(hsa_id) if hsa_id else None


def load_registry(path: str | Path) -> Registry:
    """Reads::

        platform = ["SE165565594230-1000"]          # TLS peers that are the national platform
        [consumers]
        "SE2021006297-1000" = { type = "ivo", name = "Inspektionen för vård och omsorg" }
        "SE2120001637-1000" = { type = "social_services", name = "…", quota = 500 }   # persons per window
    """
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise RegistryError(f"consumer registry {path} not found (serve --service hosp --consumers FILE)") from None
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"consumer registry {path}: {exc}") from None
    platform = data.get("platform", [])
    if not isinstance(platform, list) or not all(isinstance(p, str) for p in platform):
        raise RegistryError(f"{path}: 'platform' must be a list of HSA-ids")
    consumers: dict[str, ConsumerType] = {}
    quotas: dict[str, int] = {}
    for hsa_id, entry in (data.get("consumers") or {}).items():
        kind = entry.get("type") if isinstance(entry, dict) else None
        if kind in REFUSED_TYPES:
            continue
        try:
            consumers[hsa_id] = ConsumerType(kind)
        except ValueError:
            known = ", ".join(t.value for t in ConsumerType)
            raise RegistryError(f"{path}: consumer {hsa_id} has type {kind!r}; types: {known}") from None
        if "quota" in entry:
            quota = entry["quota"]
            if not isinstance(quota, int) or isinstance(quota, bool) or quota < 0:
                raise RegistryError(f"{path}: consumer {hsa_id} has quota {quota!r}; persons per window, 0 for none")
            quotas[hsa_id] = quota
    overlap = set(platform) & set(consumers)
    if overlap:
        raise RegistryError(f"{path}: {sorted(overlap)[0]} is both the platform and a consumer")
    return Registry(consumers, frozenset(platform), quotas)
