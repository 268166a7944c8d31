"""The questions of requests already checked, by their exact bytes.

Webcert and the regions' journal systems ask FMB the same few hundred things all day, in the same
bytes: one envelope per diagnosis code, the same logical address. Parsing, the envelope and address
checks and schema validation depend on nothing but those bytes and the endpoint, so their verdict
for bytes already seen is known: the question a contract's reader made of them. A request that
differs in one byte is checked from the start. Only requests that passed are kept (a refused one
may be refused again at full cost), only small ones, and only for contracts with a reader, none of
which carry personal data.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

UNSEEN = object()


class Questions:
    def __init__(self, *, max_entries: int = 2048, max_request_bytes: int = 4096) -> None:
        self.max_entries = max_entries
        self.max_request_bytes = max_request_bytes
        self._known: dict[tuple[str, bytes], Hashable] = {}
        self._lock = threading.Lock()  # for storing; a lookup is one dict read

    def get(self, path: str, request: bytes) -> Hashable:
        """The question of these exact request bytes at this endpoint, or ``UNSEEN``."""
        return self._known.get((path, request), UNSEEN)

    def remember(self, path: str, request: bytes, question: Hashable) -> None:
        if len(request) > self.max_request_bytes:
            return
        with self._lock:
            while len(self._known) >= self.max_entries:  # the oldest goes first
                del self._known[next(iter(self._known))]
            self._known[(path, request)] = question

    def __len__(self) -> int:
        return len(self._known)
