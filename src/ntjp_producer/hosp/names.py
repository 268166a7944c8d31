"""How HoSp compares names: the importer stores search keys this way and searches ask this way."""

from __future__ import annotations

import unicodedata


def name_key(name: str) -> str:
    """NFC, case-folded, single spaces; å, ä, ö stay letters of their own."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())
