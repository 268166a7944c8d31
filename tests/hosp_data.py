"""A small HoSp register for the tests: hand-made persons the tests name, plus generated ones."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from ntjp_producer.hosp import generate, personnummer

# Born in the 1930s, so no generated person (born 1945 and later) can take their numbers.
FULL = personnummer.make(dt.date(1935, 3, 14), 123)  # every § 6 item present
OSTROM_O = personnummer.make(dt.date(1936, 5, 1), 234)  # Öström
OSTROM_PLAIN = personnummer.make(dt.date(1936, 5, 2), 345)  # Ostrom
OSTBERG = personnummer.make(dt.date(1936, 5, 3), 456)  # Östberg
REVOKED = personnummer.make(dt.date(1937, 8, 9), 567)  # licence revoked
SAMORDNING = personnummer.make(dt.date(1938, 1, 20), 678, samordning=True)
NOT_IN_REGISTER = personnummer.make(dt.date(1939, 9, 9), 789)


def _person(pnr: str, given: str, surname: str, **extra) -> dict:
    record = {
        "personnummer": pnr,
        "fornamn": given,
        "mellannamn": None,
        "efternamn": surname,
        "kon": "2",
        "folkbokforing": {"lan": "01", "kommun": "0180"},
        "legitimationer": [
            {"yrke": "SJ", "utfardad": "1960-06-01", "giltigTill": None, "partielltTilltrade": None,
             "provotid": None, "aterkallad": None}
        ],
        "utbildningar": [],
        "specialiteter": [],
        "forskrivarratt": None,
        "underskoterska": None,
        "andrad": "2026-10-01T08:00:00+00:00",
    }  # fmt: skip
    record.update(extra)
    return record


def _leg(yrke: str, **extra) -> dict:
    return {"yrke": yrke, "utfardad": "1962-01-15", "giltigTill": None, "partielltTilltrade": None,
            "provotid": None, "aterkallad": None, **extra}  # fmt: skip


HANDMADE = [
    _person(
        FULL,
        "Märta Åsa",
        "Ängström",
        mellannamn="Sjögren",
        folkbokforing={"lan": "24", "kommun": "2480"},
        legitimationer=[
            _leg("LK", giltigTill="2027-12-31", provotid={"beslutsdatum": "2025-02-01", "slutdatum": "2028-01-31"}),
            _leg(
                "TL",
                partielltTilltrade={"beslutsdatum": "1990-03-03", "omfattning": "Begränsat till ortodonti"},
                aterkallad={"beslutsdatum": "2020-05-05"},
            ),
        ],
        utbildningar=[
            {"grundyrke": "LK", "larosate": "Umeå universitet", "land": "SE", "examensdatum": "1960-06-01"},
            {"grundyrke": "TL", "larosate": None, "land": "PL", "examensdatum": "1958-06-01"},
        ],
        specialiteter=[{"yrke": "LK", "kod": "ALLM", "utfardad": "1968-09-01"}],
        forskrivarratt={"forskrivarkod": "1234567", "omfattning": "FULL"},
        underskoterska={"utfardad": "2023-09-01"},
    ),
    _person(OSTROM_O, "Örjan", "Öström", kon="1"),
    _person(OSTROM_PLAIN, "Olle", "Ostrom", kon="1"),
    _person(OSTBERG, "Britt", "Östberg"),
    _person(REVOKED, "Sölve", "Åkesson", legitimationer=[_leg("LK", aterkallad={"beslutsdatum": "2024-04-04"})]),
    _person(SAMORDNING, "Amira", "Hassan", folkbokforing=None),
]

GENERATED = 400
GENERATED_SEED = 5


def write_extract(path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as out:
        for record in HANDMADE + list(generate.generate(GENERATED, GENERATED_SEED)):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
