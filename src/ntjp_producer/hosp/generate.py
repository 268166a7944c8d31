"""A synthetic register for demos, tests and benchmarks: realistic in shape, nobody real.

Names carry å, ä and ö; personal identity numbers have valid check digits (a few are coordination
numbers); professions come in roughly the proportions of Sweden's licensed workforce; physicians
and dentists often hold specialist certificates; some persons hold only the undersköterska title;
a few licences are time-limited, partial, on probation or revoked. Same seed, same register.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from typing import Any

from ntjp_producer.hosp import codes, personnummer


def _words(text: str) -> list[str]:
    return text.split()


SURNAMES = _words(
    "Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Svensson Gustafsson Pettersson "
    "Jonsson Jansson Hansson Bengtsson Jönsson Lindberg Jakobsson Magnusson Olofsson Lindström Lindqvist "
    "Lindgren Berg Axelsson Bergström Lundberg Lind Lundgren Lundqvist Mattsson Berglund Fredriksson "
    "Sandberg Henriksson Forsberg Sjöberg Wallin Engström Eklund Danielsson Lundin Håkansson Björk "
    "Bergman Gunnarsson Holm Wikström Samuelsson Isaksson Fransson Bergqvist Nyström Holmberg Arvidsson "
    "Löfgren Söderberg Nyberg Blomqvist Claesson Nordström Mårtensson Lundström Åberg Öström Ångström "
    "Ekström Strömberg Sjögren Hägglund Åkesson Öberg Söderström Nordin Hedlund Dahlberg Åström Bäckström "
    "Blom Sundberg Ström Holmqvist Ali Mohammed Hassan Nguyen Kowalski Yilmaz Ahmadi Ostrom Akesson"
)
GIVEN_F = _words(
    "Anna Eva Maria Karin Sara Kristina Lena Emma Kerstin Ingrid Malin Linnéa Åsa Märta Britt Birgitta "
    "Elin Sofia Ida Hanna Julia Jenny Ulla Inger Annika Susanne Camilla Agneta Lovisa Signe Sölve Ylva "
    "Gunnel Maja Astrid Elsa Ebba Klara Fatima Amira"
)
GIVEN_M = _words(
    "Lars Erik Anders Johan Per Karl Mikael Jan Hans Peter Olof Björn Göran Sören Örjan Åke Bengt Mats "
    "Magnus Stefan Fredrik Daniel Niklas Jonas Oskar Viktor Henrik Tomas Gösta Kjell Ragnar Arne Ali "
    "Mohammed Omar Jörgen Håkan Torbjörn"
)

# Share of persons by their (first) licence; None: undersköterska only.
PROFESSION_WEIGHTS: list[tuple[str | None, float]] = [
    ("SJ", 30), ("LK", 16), (None, 14), ("FT", 6), ("AT", 4), ("PS", 4), ("TL", 4), ("BA", 3.5),
    ("BM", 2.5), ("RS", 1), ("AP", 1.5), ("RC", 1), ("TH", 1.5), ("HK", 2), ("PT", 2), ("DT", 0.8),
    ("LG", 1), ("OP", 1), ("AU", 0.5), ("KP", 0.2), ("NA", 0.3), ("SF", 0.3), ("OT", 0.2), ("SG", 0.4),
]  # fmt: skip
# Roughly by population; Stockholm, Göteborg, Malmö, Uppsala weigh most.
MUNICIPALITY_WEIGHTS = {"0180": 10, "1480": 6, "1280": 3.5, "0380": 2.4, "0580": 1.6, "1880": 1.6, "1980": 1.6}
SCHOOLS = ["Karolinska institutet", "Göteborgs universitet", "Lunds universitet", "Uppsala universitet",
           "Umeå universitet", "Linköpings universitet", "Örebro universitet", "Malmö universitet"]  # fmt: skip
PRESCRIBERS = {"LK": 1.0, "TL": 1.0, "BM": 0.9, "TH": 0.6, "SJ": 0.15}


def _iso(d: dt.date) -> str:
    return d.isoformat()


def person(rng: random.Random, serials: set[str], today: dt.date) -> dict[str, Any]:
    while True:
        born = dt.date(1945, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 57))
        female = rng.random() < 0.7
        serial = rng.randrange(0, 100) * 10 + rng.choice([0, 2, 4, 6, 8] if female else [1, 3, 5, 7, 9])
        pnr = personnummer.make(born, serial, samordning=rng.random() < 0.01)
        if pnr not in serials:
            serials.add(pnr)
            break
    given = rng.choice(GIVEN_F if female else GIVEN_M)
    if rng.random() < 0.3:
        given += " " + rng.choice(GIVEN_F if female else GIVEN_M)
    surname = rng.choice(SURNAMES)
    if rng.random() < 0.05:
        surname += " " + rng.choice(SURNAMES)
    municipalities = list(codes.MUNICIPALITY.codes)
    weights = [MUNICIPALITY_WEIGHTS.get(m, 0.6) for m in municipalities]
    kommun = rng.choices(municipalities, weights)[0]
    graduated = min(born + dt.timedelta(days=365 * rng.randint(23, 35) + rng.randrange(365)), today)
    first = rng.choices([p for p, _ in PROFESSION_WEIGHTS], [w for _, w in PROFESSION_WEIGHTS])[0]
    professions = [] if first is None else [first]
    if first in ("BM", "RS"):
        professions.insert(0, "SJ")  # midwives and radiographer nurses are nurses first
    elif first == "PS" and rng.random() < 0.1:
        professions.append("PT")
    record: dict[str, Any] = {
        "personnummer": pnr,
        "fornamn": given,
        "mellannamn": rng.choice(SURNAMES) if rng.random() < 0.08 else None,
        "efternamn": surname,
        "kon": "2" if female else "1",
        "folkbokforing": {"lan": codes.county_of(kommun), "kommun": kommun},
        "legitimationer": [],
        "utbildningar": [],
        "specialiteter": [],
        "forskrivarratt": None,
        "underskoterska": None,
        "andrad": dt.datetime.combine(today - dt.timedelta(days=rng.randrange(2000)), dt.time(8), dt.UTC).isoformat(),
    }
    issued = graduated + dt.timedelta(days=rng.randint(20, 400))
    for n, yrke in enumerate(professions):
        when = min(issued + dt.timedelta(days=400 * n), today)
        abroad = rng.random() < 0.06
        record["utbildningar"].append({
            "grundyrke": yrke,
            "larosate": None if abroad else rng.choice(SCHOOLS),
            "land": rng.choice(["PL", "RO", "DE", "IQ", "SY", "IR", "HU", "FI"]) if abroad else "SE",
            "examensdatum": _iso(min(graduated + dt.timedelta(days=400 * n), today)),
        })  # fmt: skip
        leg: dict[str, Any] = {"yrke": yrke, "utfardad": _iso(when), "giltigTill": None,
                               "partielltTilltrade": None, "provotid": None, "aterkallad": None}  # fmt: skip
        r = rng.random()
        if r < 0.015:
            leg["giltigTill"] = _iso(today + dt.timedelta(days=rng.randint(30, 700)))
        elif r < 0.02:
            leg["partielltTilltrade"] = {"beslutsdatum": _iso(when), "omfattning": "Begränsat till " + rng.choice(
                ["tandreglering", "barnmedicin", "anestesi", "psykoterapi med barn"])}  # fmt: skip
        elif r < 0.022:
            start = today - dt.timedelta(days=rng.randint(30, 900))
            leg["provotid"] = {"beslutsdatum": _iso(start), "slutdatum": _iso(start + dt.timedelta(days=1095))}
        elif r < 0.025:
            leg["aterkallad"] = {"beslutsdatum": _iso(today - dt.timedelta(days=rng.randint(10, 3000)))}
        record["legitimationer"].append(leg)
        if yrke in codes.SPECIALITIES_FOR and rng.random() < (0.6 if yrke == "LK" else 0.2):
            record["specialiteter"].append({
                "yrke": yrke, "kod": rng.choice(codes.SPECIALITIES_FOR[yrke]),
                "utfardad": _iso(min(when + dt.timedelta(days=365 * rng.randint(5, 8)), today)),
            })  # fmt: skip
        if yrke in PRESCRIBERS and record["forskrivarratt"] is None and rng.random() < PRESCRIBERS[yrke]:
            record["forskrivarratt"] = {
                "forskrivarkod": f"{rng.randrange(10**6, 10**7)}",
                "omfattning": "FULL" if yrke in ("LK", "TL") else "BEGRANSAD",
            }
    if first is None or rng.random() < 0.03:
        record["underskoterska"] = {"utfardad": _iso(max(dt.date(2023, 7, 1), min(graduated, today)))}
    return record


def generate(count: int, seed: int, today: dt.date | None = None) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    serials: set[str] = set()
    today = today or dt.date(2026, 11, 1)  # fixed, so the same seed gives the same file on any day
    for _ in range(count):
        yield person(rng, serials, today)


def write(count: int, seed: int, out) -> None:
    for record in generate(count, seed):
        out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
