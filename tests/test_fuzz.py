"""Fuzzing the real servers with mutated requests (fixed seed): whatever a consumer sends, the
answer is a valid response or the consumer's fault (a Client or VersionMismatch fault, or an HTTP 4xx
for broken framing). Never a Server fault caused by input, never a traceback, in the answer or in the
log, and no worker dies (the workers' process ids are the same before and after)."""

from __future__ import annotations

import random
import re

import pytest
import requests

from tests.helpers import booted_workers, envelope

pytestmark = pytest.mark.slow
SEED = 20261123
FMB_REQUESTS = 1500
HOSP_REQUESTS = 700

K40 = "<r:diagnosKod><c:code>K40</c:code><c:codeSystem>1.2.752.116.1.1.1.3.2</c:codeSystem></r:diagnosKod>"
BY_ID = "<r:underlagsId><c:root>1.2.752.116.3.1.12</c:root><c:extension>111</c:extension></r:underlagsId>"
PING = (
    "<r:serviceContractNamespace>urn:x</r:serviceContractNamespace>"
    "<r:logicalAddress>LogicalAddress</r:logicalAddress>"
)
FMB_SEEDS = [
    ("GetFmb", envelope("GetFmb", K40 + "<r:avenEjAktiva>true</r:avenEjAktiva>")),
    ("GetFmb", envelope("GetFmb", BY_ID)),
    ("GetDiagnosInformation", envelope("GetDiagnosInformation", "<r:diagnosKod><c:code>F32.1</c:code></r:diagnosKod>")),
    ("GetVersions", envelope("GetVersions")),
    ("PingForConfiguration", envelope("PingForConfiguration", PING, logical_address="x")),
]
TOKENS = [
    "<", ">", "&", "&amp;", "&#0;", "&#xD800;", "]]>", "<![CDATA[", "<!--", "-->", "<?pi x?>", "<!DOCTYPE x>",
    '"', "'", "\x00", "\x07", "\ufffe", "å", "🙂", "\u202e", "x" * 5000, "<a:b xmlns:a='u'/>", "</s:Body>",
    "<s:Body>", "xmlns:r='urn:other'", "=", " ", "\r\n",
]
CONTENT_TYPES = [
    "text/xml; charset=utf-8", "text/xml", "text/xml; charset=iso-8859-1", "text/xml; charset=utf-16",
    "application/soap+xml", "text/plain", "", "text/xml; charset=nonsense", "multipart/related",
]


def mutate(rng: random.Random, contract: str, text: str) -> tuple[bytes, dict]:
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{contract}"'}
    kind = rng.randrange(9)
    data = text.encode()
    if kind == 0:  # flip bytes
        b = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        data = bytes(b)
    elif kind == 1:  # truncate
        data = data[: rng.randrange(len(data))]
    elif kind == 2:  # splice in XML-ish tokens
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(text))
            text = text[:at] + rng.choice(TOKENS) + text[at:]
        data = text.encode("utf-8", "surrogatepass")
    elif kind == 3:  # duplicate a slice
        a, b = sorted(rng.sample(range(len(data)), 2))
        data = data[:b] + data[a:b] + data[b:]
    elif kind == 4:  # another encoding, with or without a (maybe wrong) declaration
        enc = rng.choice(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be", "latin-1", "cp1252"])
        decl = rng.choice(["", '<?xml version="1.0" encoding="UTF-8"?>', f'<?xml version="1.0" encoding="{enc}"?>'])
        data = (decl + text).encode(enc, "replace")
    elif kind == 5:  # replace a text value
        values = [m.span(1) for m in re.finditer(r">([^<]+)<", text)]
        if values:
            a, b = rng.choice(values)
            junk = rng.choice(["", " ", "0" * 300, "ÖÄÅ", "K40" * 100, "-1", "9" * 40, "\t\n", "true", "19121212-1212"])
            text = text[:a] + junk + text[b:]
        data = text.encode()
    elif kind == 6:  # rename a tag
        tags = list(re.finditer(r"<(/?)([\w:]+)", text))
        m = rng.choice(tags)
        text = text[: m.start(2)] + rng.choice(["x", "r:Other", "s:Header", "c:code", "Body"]) + text[m.end(2):]
        data = text.encode()
    elif kind == 7:  # odd headers
        headers["Content-Type"] = rng.choice(CONTENT_TYPES)
        if rng.random() < 0.5:
            headers["SOAPAction"] = rng.choice(['"', "", "x" * 2000, '"urn:wrong"'])
    else:  # a chunked body in random pieces
        cuts = sorted(rng.sample(range(1, len(data)), min(5, len(data) - 1)))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        return pieces, headers
    return data, headers


def _fuzz(server, seeds, count: int, client: str) -> dict[str, int]:
    rng = random.Random(SEED)
    session = server.session(client)
    before = booted_workers(server)
    log_from = server.log_path.stat().st_size  # other tests on this server may have provoked failures
    outcomes: dict[str, int] = {}
    for i in range(count):
        contract, text = seeds[i % len(seeds)]
        data, headers = mutate(rng, contract, text)
        body = iter(data) if isinstance(data, list) else data
        try:
            r = session.post(f"{server.base_url}/{contract}/1/rivtabp21", data=body, headers=headers, timeout=30)
        except requests.ConnectionError:  # gunicorn may close a connection on a framing error
            session = server.session(client)
            outcomes["connection closed"] = outcomes.get("connection closed", 0) + 1
            continue
        assert b"Traceback" not in r.content and b'File "' not in r.content, (i, data[:300])
        if r.status_code == 200:
            outcome = "answered"
        elif r.status_code == 500:
            code = re.search(rb"<faultcode>(?:\w+:)?([\w.]+)</faultcode>", r.content)
            assert code, (i, r.content[:300])
            outcome = code.group(1).decode()
            assert outcome.split(".")[0] in ("Client", "VersionMismatch"), f"{i}: {r.text[:300]} for {data[:300]!r}"
        else:
            assert 400 <= r.status_code < 500, (i, r.status_code, r.text[:200])
            outcome = f"HTTP {r.status_code}"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert booted_workers(server) == before, "no worker restarted"
    with open(server.log_path, encoding="utf-8") as fh:
        fh.seek(log_from)
        log = fh.read()
    assert "Traceback" not in log, log[log.index("Traceback") - 500 : log.index("Traceback") + 1500]
    assert '"Server"' not in log
    assert "[personnummer]" not in log, "no code path tried to log an identity number from the fuzzed input"
    return outcomes


def test_fuzzing_fmb_finds_no_server_fault(server):
    outcomes = _fuzz(server, FMB_SEEDS, FMB_REQUESTS, "region")
    print(f"\nFMB, {FMB_REQUESTS} mutated requests (seed {SEED}): {outcomes}")
    assert outcomes.get("answered", 0) > 100 and outcomes.get("Client", 0) > 500


def test_fuzzing_hosp_finds_no_server_fault(hosp_server, hosp_extract):
    pnr = hosp_extract.read_text().split('"personnummer": "', 1)[1][:12]
    seeds = [
        ("GetHealthcareProfessional", envelope("GetHealthcareProfessional",
                                               f"<r:personalIdentityNumber>{pnr}</r:personalIdentityNumber>")),
        ("SearchHealthcareProfessionals", envelope("SearchHealthcareProfessionals",
                                                   "<r:surname>Öst</r:surname><r:professionCode>SJ</r:professionCode>"
                                                   "<r:maxResults>5</r:maxResults>")),
    ]  # fmt: skip
    outcomes = _fuzz(hosp_server, seeds, HOSP_REQUESTS, "ivo")
    print(f"\nHoSp, {HOSP_REQUESTS} mutated requests (seed {SEED}): {outcomes}")
    assert outcomes.get("answered", 0) > 50 and outcomes.get("Client", 0) > 200
