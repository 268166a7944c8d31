"""Reading one FMB release folder in the open API's format, and refusing a broken one.

A release is two JSON:API documents, ``typfall.json`` and
``forsakringsmedicinskdiagnosinformation.json``. Everything is checked before anything is written,
and every complaint names the file and the item, so whoever publishes a broken release can fix it.

Each item is reduced to two fingerprints: its *meaning* (codes, conditions, sick-leave length, unit
and degree, validity), which decides its version, and its whole *content*, which decides whether it
changed at all. Upstream's own ``version`` attribute is not used: it almost never moves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ntjp_producer.fmb import codes
from ntjp_producer.fmb.models import DIAGNOSINFORMATION, TYPFALL

FILES = {
    TYPFALL: "typfall.json",
    DIAGNOSINFORMATION: "forsakringsmedicinskdiagnosinformation.json",
}
UNITS = frozenset({"d", "wk", "mo"})
# SNOMED CT codes the open API uses for an åtgärd's status.
ATGARD_STATUS = {
    "397943006": "planerad",
    "398166005": "utford",
    "385651009": "pagaende",
}
URVAL_LISTS = {
    "urvalsvarighetsgrad": "svarighetsgrad",
    "urvalsjukdomsforlopp": "sjukdomsforlopp",
    "urvalkomplicerandefaktor": "komplicerandefaktor",
    "urvalarbetsbelastning": "arbetsbelastning",
}
# Kinds the contract carries at most one selection of (urvalSvarighetsgrad and the others are 0..1):
# two selections AND-ed cannot be answered without changing their meaning, so such a release is refused.
SINGLE_SELECTION = frozenset({"urvalsvarighetsgrad", "urvalsjukdomsforlopp", "urvalarbetsbelastning"})


class ReleaseError(ValueError):
    """A release that must not be imported; the message names file and item."""

    def __init__(self, file: str, item: str | None, reason: str) -> None:
        self.file, self.item, self.reason = file, item, reason
        where = f"{file}, item {item}" if item is not None else file
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class ReleaseItem:
    kind: str
    item_id: str
    attributes: dict[str, Any]
    giltig_start: dt.date
    giltig_slut: dt.date | None
    senast_uppdaterad: dt.datetime
    diagnoskoder: tuple[str, ...]
    meaning_digest: str
    content_digest: str


@dataclass
class Release:
    source: str
    version: str | None
    built: str | None
    items: dict[str, dict[str, ReleaseItem]] = field(default_factory=dict)


def _digest(obj: Any) -> str:
    canonical = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class _Item:
    """Typed access to one item's attributes that raises ReleaseError with the item's name."""

    def __init__(self, file: str, item_id: str, attrs: Any) -> None:
        self.file, self.item_id = file, item_id
        if not isinstance(attrs, dict):
            self.fail("'attributes' is missing or not an object")
        self.attrs = attrs

    def fail(self, reason: str):
        raise ReleaseError(self.file, self.item_id, reason)

    def get(self, path: str, *, required: bool = True, kind: type | tuple = str) -> Any:
        node: Any = self.attrs
        for part in path.split("."):
            if not isinstance(node, dict) or node.get(part) is None:
                if required:
                    self.fail(f"required attribute '{path}' is missing")
                return None
            node = node[part]
        if not isinstance(node, kind):
            self.fail(f"attribute '{path}' has the wrong type ({type(node).__name__})")
        return node

    def date(self, path: str, *, required: bool = True) -> dt.date | None:
        value = self.get(path, required=required)
        if value is None:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.fail(f"attribute '{path}' is not a date: {value!r}")

    def timestamp(self, path: str) -> dt.datetime:
        value = self.get(path)
        for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"):
            try:
                return dt.datetime.strptime(value, fmt).astimezone(dt.UTC)
            except ValueError:
                continue
        self.fail(f"attribute '{path}' is not a timestamp: {value!r}")

    def codes(self, path: str, entries: Any, *, required: bool = True) -> list[str]:
        if entries is None:
            entries = []
        if not isinstance(entries, list):
            self.fail(f"attribute '{path}' is not a list")
        result = []
        for entry in entries:
            kod = entry.get("kod") if isinstance(entry, dict) else None
            if not isinstance(kod, str) or not kod.strip():
                self.fail(f"a code in '{path}' has no 'kod'")
            result.append(kod.strip())
        if required and not result:
            self.fail(f"required attribute '{path}' has no codes")
        return result

    def diagnoses(self, path: str) -> tuple[str, ...]:
        found = []
        for kod in self.codes(path, self.get(path, kind=list)):
            try:
                found.append(codes.normalise(kod))
            except codes.InvalidDiagnosisCode as exc:
                self.fail(f"in '{path}': {exc}")
        return tuple(dict.fromkeys(found))


def whole_number(value: str) -> int | None:
    """``'2'`` (or ``'2.0'``) -> 2; None for anything that is not a whole number of days, weeks or
    months, which the contract's sjukskrivningstid cannot carry (its value is an integer)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() and number >= 0 else None


def comorbidity_codes(tillstand: dict[str, Any]) -> Iterator[Any]:
    """Every diagnosis code entry under ``urvalsamsjuklighet``.

    The open API lists comorbidities as groups of one; any one of them satisfies the typfall's
    condition, so the producer treats them as one selection of alternatives.
    """
    for group in tillstand.get("urvalsamsjuklighet") or []:
        for entry in group if isinstance(group, list) else [group]:
            found = (entry if isinstance(entry, dict) else {}).get("diagnoskod") or []
            yield from found if isinstance(found, list) else [found]


def _typfall_meaning(item: _Item) -> dict[str, Any]:
    tillstand = item.get("fmbtillstand", kind=dict)
    urval: dict[str, Any] = {}
    for key, inner in URVAL_LISTS.items():
        selections = tillstand.get(key) or []
        if not isinstance(selections, list):
            item.fail(f"attribute 'fmbtillstand.{key}' is not a list")
        if key in SINGLE_SELECTION and len(selections) > 1:
            item.fail(f"'fmbtillstand.{key}' has {len(selections)} selections; the contract carries at most one")
        urval[key] = sorted(sorted(item.codes(f"fmbtillstand.{key}.{inner}", (s or {}).get(inner))) for s in selections)
    samsjuklighet = item.codes(
        "fmbtillstand.urvalsamsjuklighet.diagnoskod", list(comorbidity_codes(tillstand)), required=False
    )
    urval["urvalsamsjuklighet"] = sorted(samsjuklighet)
    atgarder = []
    for sel in tillstand.get("urvalatgard") or []:
        status = ((sel or {}).get("status") or {}).get("kod")
        if status not in ATGARD_STATUS:
            item.fail(f"unknown status {status!r} in 'fmbtillstand.urvalatgard'")
        atgarder.append([status, sorted(item.codes("fmbtillstand.urvalatgard.kod", sel.get("kod")))])
    urval["urvalatgard"] = sorted(atgarder)

    tid = item.get("rekommenderadsjukskrivning.maximalsjukskrivningstid", required=False)
    enhet = item.get("rekommenderadsjukskrivning.maximalsjukskrivningsenhet", required=False)
    if enhet is not None and enhet not in UNITS:
        item.fail(f"unknown unit {enhet!r} in 'rekommenderadsjukskrivning.maximalsjukskrivningsenhet'")
    if (tid is None) != (enhet is None):
        item.fail("'maximalsjukskrivningstid' and 'maximalsjukskrivningsenhet' must come together")
    if tid is not None and whole_number(tid) is None:
        item.fail(f"'rekommenderadsjukskrivning.maximalsjukskrivningstid' is not a whole number: {tid!r}")
    item.get("rekommenderadsjukskrivning.typfalletsrekommenderadesjukskrivning")
    grad = item.get("rekommenderadsjukskrivning.maximalsjukskrivningsgrad.kod")
    if grad not in codes.SJUKSKRIVNINGSGRAD:
        item.fail(
            f"unknown 'rekommenderadsjukskrivning.maximalsjukskrivningsgrad.kod' {grad!r}; "
            f"known: {', '.join(f'{k} ({v})' for k, v in codes.SJUKSKRIVNINGSGRAD.items())}"
        )
    return {
        "giltighetsperiod": item.attrs.get("giltighetsperiod"),
        "diagnoskod": sorted(item.diagnoses("fmbtillstand.diagnoskod")),
        "urval": urval,
        "tid": tid,
        "enhet": enhet,
        "grad": grad,
    }


def _diagnosinformation_meaning(item: _Item) -> dict[str, Any]:
    item.get("diagnosrubrik")
    icf = {}
    for part in ("aktivitetsbegransning", "funktionsnedsattning"):
        block = item.get(part, required=False, kind=dict) or {}
        icf[part] = [
            sorted(item.codes(f"{part}.{k}", block.get(k), required=False)) for k in ("centralkod", "kompletterandekod")
        ]
    return {
        "giltighetsperiod": item.attrs.get("giltighetsperiod"),
        "diagnoskod": sorted(item.diagnoses("diagnoskod")),
        "icf": icf,
    }


_MEANING = {TYPFALL: _typfall_meaning, DIAGNOSINFORMATION: _diagnosinformation_meaning}
_DIAGNOSES = {TYPFALL: "fmbtillstand.diagnoskod", DIAGNOSINFORMATION: "diagnoskod"}


def _load_document(path: Path) -> dict[str, Any]:
    name = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ReleaseError(name, None, "file is missing from the release") from None
    except OSError as exc:
        raise ReleaseError(name, None, f"cannot be read: {exc.strerror}") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ReleaseError(name, None, f"not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ReleaseError(
            name, None, f"invalid or truncated JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ReleaseError(name, None, "not a JSON:API document with a 'data' list")
    return doc


def read_release(folder: str | Path) -> Release:
    """Read and check a release folder; raise ReleaseError on the first problem found."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReleaseError(str(folder), None, "is not a folder")
    release = Release(source=str(folder), version=None, built=None)
    for kind, filename in FILES.items():
        doc = _load_document(folder / filename)
        meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
        release.version = release.version or meta.get("version")
        release.built = release.built or meta.get("buildtimestamp")
        items: dict[str, ReleaseItem] = {}
        for position, entry in enumerate(doc["data"], start=1):
            if not isinstance(entry, dict):
                raise ReleaseError(filename, f"#{position}", "is not an object")
            item_id = entry.get("id")
            if not isinstance(item_id, str) or not item_id.strip():
                raise ReleaseError(filename, f"#{position}", "required attribute 'id' is missing")
            item = _Item(filename, item_id, entry.get("attributes"))
            if item_id in items:
                item.fail("the id occurs twice in the file")
            start = item.date("giltighetsperiod.start")
            slut = item.date("giltighetsperiod.slut", required=False)
            meaning = _MEANING[kind](item)
            items[item_id] = ReleaseItem(
                kind=kind,
                item_id=item_id,
                attributes=item.attrs,
                giltig_start=start,
                giltig_slut=slut,
                senast_uppdaterad=item.timestamp("senastuppdaterad"),
                diagnoskoder=item.diagnoses(_DIAGNOSES[kind]),
                meaning_digest=_digest(meaning),
                content_digest=_digest(item.attrs),
            )
        release.items[kind] = items
    return release
