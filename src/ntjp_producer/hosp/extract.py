"""The extract format: how Socialstyrelsen's case management hands the register to the service.

JSON Lines, UTF-8, one person a line, every § 6 item the register holds for that person (see
``docs/hosp-contract.md`` for the format with an example). A full extract is the whole register; a
delta holds changed persons and, for a person to remove, ``{"personnummer": "…", "raderad": true}``.

Every line is checked here (personal identity number and its check digit, dates, every code
against its code system, no unknown keys) and turned into the normalised record the register
stores. A bad line raises ExtractError naming the line and the reason, never the line's content.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import orjson

from ntjp_producer.hosp import codes, personnummer


class ExtractError(ValueError):
    def __init__(self, source: str, line: int, reason: str) -> None:
        super().__init__(f"{source}, line {line}: {reason}")
        self.source, self.line, self.reason = source, line, reason


class _Bad(ValueError):
    pass


@dataclass(frozen=True)
class Deletion:
    pnr: str


_PERSON_KEYS = {
    "personnummer", "fornamn", "mellannamn", "efternamn", "kon", "folkbokforing", "legitimationer",
    "utbildningar", "specialiteter", "forskrivarratt", "underskoterska", "andrad",
}  # fmt: skip
_REQUIRED = {"personnummer", "fornamn", "efternamn"}


def parse_line(text: str, *, allow_deletion: bool) -> dict[str, Any] | Deletion:
    """One extract line as a normalised record (or a deletion); raises _Bad with the reason."""
    try:
        data = orjson.loads(text)  # a third of json's time; stricter too (no NaN, no lone surrogates)
    except orjson.JSONDecodeError as exc:
        raise _Bad(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise _Bad("a line must be one JSON object")
    if data.get("raderad") is not None:
        if not allow_deletion:
            raise _Bad("'raderad' belongs in a delta extract, not a full one")
        if data.get("raderad") is not True or set(data) != {"personnummer", "raderad"}:
            raise _Bad('a deletion is exactly {"personnummer": "...", "raderad": true}')
        return Deletion(_pnr(data["personnummer"]))
    unknown = sorted(set(data) - _PERSON_KEYS)
    if unknown:
        raise _Bad(f"unknown key '{unknown[0]}'")
    missing = sorted(k for k in _REQUIRED if not data.get(k))
    if missing:
        raise _Bad(f"'{missing[0]}' is missing")
    return {
        "personnummer": _pnr(data["personnummer"]),
        "fornamn": _text(data, "fornamn"),
        "mellannamn": _text(data, "mellannamn", optional=True),
        "efternamn": _text(data, "efternamn"),
        "kon": _code(data.get("kon"), codes.SEX, "kon", optional=True),
        "folkbokforing": _folkbokforing(data.get("folkbokforing")),
        "legitimationer": [_legitimation(x) for x in _list(data, "legitimationer")],
        "utbildningar": [_utbildning(x) for x in _list(data, "utbildningar")],
        "specialiteter": [_specialitet(x) for x in _list(data, "specialiteter")],
        "forskrivarratt": _forskrivarratt(data.get("forskrivarratt")),
        "underskoterska": _underskoterska(data.get("underskoterska")),
        "andrad": _timestamp(data.get("andrad"), "andrad"),
    }


# -- pieces ------------------------------------------------------------------------------------------


def _pnr(value: Any) -> str:
    try:
        return personnummer.validate(value)
    except personnummer.InvalidPersonnummer as exc:
        raise _Bad(f"personnummer: {exc}") from None


def _text(data: dict, key: str, *, optional: bool = False) -> str | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise _Bad(f"'{key}' must be a non-empty text of at most 200 characters")
    return value.strip()


def _code(value: Any, system: codes.CodeSystem, key: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or value not in system.codes:
        raise _Bad(f"'{key}': unknown code {json.dumps(value)[:20]} in {system.name}")
    return value


def _iso_date(value: Any, key: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    try:
        if isinstance(value, str) and len(value) == 10:
            return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise _Bad(f"'{key}' must be a date YYYY-MM-DD")


def _timestamp(value: Any, key: str) -> str | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise _Bad(f"'{key}' must be an ISO 8601 time with zone")
    if parsed.tzinfo is None:
        raise _Bad(f"'{key}' must carry a time zone")
    return parsed.astimezone(dt.UTC).isoformat()


def _object(value: Any, key: str, keys: set[str]) -> dict:
    if not isinstance(value, dict):
        raise _Bad(f"'{key}' must be an object")
    unknown = sorted(set(value) - keys)
    if unknown:
        raise _Bad(f"'{key}': unknown key '{unknown[0]}'")
    return value


def _list(data: dict, key: str) -> list:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(f"'{key}' must be a list")
    return value


def _folkbokforing(value: Any) -> dict | None:
    if value is None:
        return None
    v = _object(value, "folkbokforing", {"lan", "kommun"})
    kommun = v.get("kommun")
    if not isinstance(kommun, str) or len(kommun) != 4 or not kommun.isdigit():
        raise _Bad("'folkbokforing.kommun' must be a four-digit municipality code")
    lan = codes.county_of(kommun)
    if lan not in codes.COUNTY.codes:
        raise _Bad(f"'folkbokforing.kommun': no county {lan} in {codes.COUNTY.name}")
    if v.get("lan") is not None and v["lan"] != lan:
        raise _Bad("'folkbokforing.lan' does not match the municipality's county")
    return {"lan": lan, "kommun": kommun}


def _legitimation(value: Any) -> dict:
    keys = {"yrke", "utfardad", "giltigTill", "partielltTilltrade", "provotid", "aterkallad"}
    v = _object(value, "legitimationer[]", keys)
    out = {
        "yrke": _code(v.get("yrke"), codes.PROFESSION, "legitimationer[].yrke"),
        "utfardad": _iso_date(v.get("utfardad"), "legitimationer[].utfardad"),
        "giltigTill": _iso_date(v.get("giltigTill"), "legitimationer[].giltigTill", optional=True),
        "partielltTilltrade": None,
        "provotid": None,
        "aterkallad": None,
    }
    if v.get("partielltTilltrade") is not None:
        p = _object(v["partielltTilltrade"], "partielltTilltrade", {"beslutsdatum", "omfattning"})
        out["partielltTilltrade"] = {
            "beslutsdatum": _iso_date(p.get("beslutsdatum"), "partielltTilltrade.beslutsdatum"),
            "omfattning": _text(p, "omfattning"),
        }
    if v.get("provotid") is not None:
        p = _object(v["provotid"], "provotid", {"beslutsdatum", "slutdatum"})
        out["provotid"] = {
            "beslutsdatum": _iso_date(p.get("beslutsdatum"), "provotid.beslutsdatum"),
            "slutdatum": _iso_date(p.get("slutdatum"), "provotid.slutdatum", optional=True),
        }
    if v.get("aterkallad") is not None:
        p = _object(v["aterkallad"], "aterkallad", {"beslutsdatum"})
        out["aterkallad"] = {"beslutsdatum": _iso_date(p.get("beslutsdatum"), "aterkallad.beslutsdatum")}
    return out


def _utbildning(value: Any) -> dict:
    v = _object(value, "utbildningar[]", {"grundyrke", "larosate", "land", "examensdatum"})
    return {
        "grundyrke": _code(v.get("grundyrke"), codes.PROFESSION, "utbildningar[].grundyrke"),
        "larosate": _text(v, "larosate", optional=True),
        "land": _code(v.get("land"), codes.COUNTRY, "utbildningar[].land", optional=True),
        "examensdatum": _iso_date(v.get("examensdatum"), "utbildningar[].examensdatum", optional=True),
    }


def _specialitet(value: Any) -> dict:
    v = _object(value, "specialiteter[]", {"yrke", "kod", "utfardad"})
    yrke = v.get("yrke")
    if yrke not in codes.SPECIALITIES_FOR:
        raise _Bad("'specialiteter[].yrke': specialist certificates exist for LK and TL only")
    kod = _code(v.get("kod"), codes.SPECIALITY, "specialiteter[].kod")
    if kod not in codes.SPECIALITIES_FOR[yrke]:
        raise _Bad(f"'specialiteter[].kod': {kod} is not a speciality of {yrke}")
    return {"yrke": yrke, "kod": kod, "utfardad": _iso_date(v.get("utfardad"), "specialiteter[].utfardad")}


def _forskrivarratt(value: Any) -> dict | None:
    if value is None:
        return None
    v = _object(value, "forskrivarratt", {"forskrivarkod", "omfattning"})
    kod = v.get("forskrivarkod")
    if not isinstance(kod, str) or len(kod) != 7 or not kod.isdigit():
        raise _Bad("'forskrivarratt.forskrivarkod' must be seven digits")
    return {"forskrivarkod": kod, "omfattning": _code(v.get("omfattning"), codes.PRESCRIPTION_SCOPE, "omfattning")}


def _underskoterska(value: Any) -> dict | None:
    if value is None:
        return None
    v = _object(value, "underskoterska", {"utfardad"})
    return {"utfardad": _iso_date(v.get("utfardad"), "underskoterska.utfardad")}


Item = dict[str, Any] | Deletion


Failure = tuple[int, str]  # a bad line's number and the reason


def parse_lines(first: int, lines: list[bytes], *, delta: bool) -> tuple[list[tuple[int, Item]], Failure | None]:
    """Lines of an extract, numbered from ``first``, as (line number, record or Deletion); blank
    lines are skipped. Parsing stops at the first bad line, whose number and reason come second
    (None if every line was good). Bytes, not text: a line that is not UTF-8 is named exactly, and
    the import's parsing processes get the file's lines as they are."""
    items: list[tuple[int, Item]] = []
    for number, raw in enumerate(lines, first):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return items, (number, "the file is not UTF-8")
        if not text.strip():
            continue
        try:
            items.append((number, parse_line(text, allow_deletion=delta)))
        except _Bad as exc:
            return items, (number, str(exc))
    return items, None


class Seen:
    """Each personnummer once in an extract: checked in line order, across all its parts."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._pnrs: set[str] = set()

    def check(self, number: int, pnr: str) -> None:
        if pnr in self._pnrs:
            raise ExtractError(self.source, number, "the same personnummer appears on an earlier line")
        self._pnrs.add(pnr)
