"""Swedish personal identity numbers as the register holds them: 12 digits, ``YYYYMMDDNNNC``.

The check digit C is the Luhn digit over the last ten digits before it. A coordination number
(samordningsnummer) adds 60 to the day. Anything else is refused before it reaches a query or the
register, with a reason that does not repeat the number (it may be somebody's real one).
"""

from __future__ import annotations

import datetime as dt
import re

PERSONNUMMER_OID = "1.2.752.129.2.1.3.1"
SAMORDNINGSNUMMER_OID = "1.2.752.129.2.1.3.3"

_FORMAT = re.compile(r"\d{12}")


class InvalidPersonnummer(ValueError):
    pass


def luhn_digit(nine: str) -> int:
    total = 0
    for i, ch in enumerate(nine):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10


def birth_date(pnr: str) -> dt.date:
    """The birth date a valid number carries (coordination numbers: day minus 60)."""
    day = int(pnr[6:8])
    return dt.date(int(pnr[0:4]), int(pnr[4:6]), day - 60 if day > 60 else day)


def is_samordningsnummer(pnr: str) -> bool:
    return int(pnr[6:8]) > 60


def validate(pnr: object) -> str:
    """The number itself when valid; raises InvalidPersonnummer saying why."""
    if not isinstance(pnr, str) or not _FORMAT.fullmatch(pnr):
        raise InvalidPersonnummer("a personal identity number is 12 digits, YYYYMMDDNNNC")
    try:
        birth_date(pnr)
    except ValueError:
        raise InvalidPersonnummer("the personal identity number does not hold a valid date") from None
    if luhn_digit(pnr[2:11]) != int(pnr[11]):
        raise InvalidPersonnummer("the personal identity number's check digit is wrong")
    return pnr


def make(born: dt.date, serial: int, *, samordning: bool = False) -> str:
    """A valid number for a birth date and a three-digit serial (its last digit's parity is the sex)."""
    day = born.day + (60 if samordning else 0)
    body = f"{born.year:04d}{born.month:02d}{day:02d}{serial:03d}"
    return body + str(luhn_digit(body[2:]))


def root(pnr: str) -> str:
    return SAMORDNINGSNUMMER_OID if is_samordningsnummer(pnr) else PERSONNUMMER_OID
