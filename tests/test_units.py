"""Small domain rules that need no server: code normalisation, HTML to text, the safe loader."""

from __future__ import annotations

import pytest

from ntjp_producer import settings
from ntjp_producer.fmb import codes
from ntjp_producer.fmb.text import html_to_text
from ntjp_producer.rivta import loader

pytestmark = pytest.mark.once


@pytest.mark.parametrize(
    ("written", "normal"), [("j22.4", "J224"), (" F32 ", "F32"), ("m54.5", "M545"), ("S72.00", "S7200")]
)
def test_normalise(written, normal):
    assert codes.normalise(written) == normal


@pytest.mark.parametrize("bad", ["", "  ", "22", "J2", "ÅÄÖ", "J22.4; DROP", "J2244444"])
def test_normalise_refuses(bad):
    with pytest.raises(codes.InvalidDiagnosisCode):
        codes.normalise(bad)


def test_lineage_nearest_first():
    assert codes.lineage("F321") == ["F321", "F32"]
    assert codes.lineage("S7200") == ["S7200", "S720", "S72"]


def test_html_to_text_keeps_paragraphs_and_list_items_as_lines():
    text = html_to_text(
        "<p>Första  stycket\nfortsätter.</p><ul><li>ett</li><li>två &amp; tre</li></ul><p>Sist<br>rad</p>"
    )
    assert text == "Första stycket fortsätter.\n- ett\n- två & tre\nSist\nrad"


def test_html_to_text_survives_a_bare_less_than():
    assert html_to_text("<p>vikt <15 kg</p>").startswith("vikt")
    assert html_to_text("") is None and html_to_text(None) is None


def test_loader_refuses_dtd_and_depth():
    with pytest.raises(loader.UnsafeXml):
        loader.parse(b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')
    with pytest.raises(loader.UnsafeXml):
        loader.parse(b"<a>" * 100 + b"</a>" * 100)
    assert loader.parse(b"<a><b/></a>").tag == "a"


def test_settings_file_and_environment(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('[producer]\ndb = "sqlite:///x.db"\nlogical_addresses = ["A", "B"]\nworkers = 3\n')
    s = settings.load(f, environ={"NTJP_WORKERS": "5"})
    assert s.db == "sqlite:///x.db" and s.logical_addresses == ("A", "B") and s.workers == 5
    f.write_text('[producer]\ndatabase = "oops"\n')
    with pytest.raises(ValueError, match="unknown settings"):
        settings.load(f, environ={})


def test_log_redaction_takes_identity_numbers_and_leaves_correlation_ids():
    import uuid

    from ntjp_producer.logs import redact

    for pnr in ("191212121212", "19121212-1212", "121212-1212", "121212+1212"):
        assert redact(f"pnr {pnr}, then more") == "pnr [personnummer], then more"
        assert redact(f'"{pnr}"') == '"[personnummer]"'
    for cid in ["0e123456-4907-4a97-a972-2e32684a3bc1", *(str(uuid.uuid4()) for _ in range(2000))]:
        assert redact(f'"correlation_id": "{cid}"') == f'"correlation_id": "{cid}"', cid
    assert redact("within_target 0.199712121212") == "within_target 0.199712121212"


def test_log_redaction_matches_its_plain_spelling():
    """The redaction pattern is written digit-first for speed; it must take exactly what the plain
    spelling in its comment takes, on text made of the characters that decide a match."""
    import random
    import re

    from ntjp_producer.logs import redact

    plain = re.compile(
        r"(?<![0-9A-Za-z.-])(?:(?:19|20)\d{10}|\d{6}[-+]\d{4}|(?:19|20)\d{6}[-+]\d{4})(?![0-9A-Za-z-])"
    )
    rng = random.Random(11)
    alphabet = "0123456789" * 5 + "12" * 5 + "90" * 3 + "-+. aZ\"_:"
    for _ in range(50_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        assert redact(text) == plain.sub("[personnummer]", text), text


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), (" 1 ", True), ("false", False), ("0", False), (None, False)],
)
def test_aven_ej_aktiva_reads_every_xs_boolean_spelling(value, expected):
    """xs:boolean allows true/false/1/0 with surrounding white space; absent means false."""
    from lxml import etree

    from ntjp_producer import ns
    from ntjp_producer.fmb.soap import GET_FMB, _aven_ej_aktiva

    r = ns.fmb_responder(GET_FMB)
    request = etree.Element(f"{{{r}}}{GET_FMB}")
    if value is not None:
        etree.SubElement(request, f"{{{r}}}avenEjAktiva").text = value
    assert _aven_ej_aktiva(request, GET_FMB) is expected


@pytest.mark.parametrize("service", ["fmb", "hosp"])
def test_deploy_settings_files_load(service):
    """The settings a real node is given (deploy/etc) are all settings the producer knows."""
    from pathlib import Path

    from ntjp_producer import settings

    s = settings.load(Path(__file__).parents[1] / "deploy" / "etc" / f"{service}.toml", environ={})
    assert s.service == service and s.drain_seconds == 5 and "target_session_attrs=read-write" in s.db


def test_a_call_line_is_the_line_logging_would_write(monkeypatch):
    """``logs.info`` skips the logging machinery for the line written once per call; what it writes
    must be what the JSON formatter writes for the same record, redaction included."""
    import io
    import json
    import logging
    import re

    from ntjp_producer import logs

    monkeypatch.setattr(logging.root, "handlers", list(logging.root.handlers))
    level = logging.root.level
    logs.setup("INFO")
    stream = io.StringIO()
    logs._handler.stream = stream
    log = logging.getLogger("ntjp_producer.test")
    fields = {"path": "/GetFmb/1/rivtabp21 191212121212", "status": 200, "ok": True, "no": False, "none": None,
              "ms": 1.25, "nan": float("nan"), "quoted": 'a "b"\n\tç €', "short": "121212-1212", "list": [1, "x"],
              "consumer_correlation_id": "19121212-1212"}  # fmt: skip
    token = logs.correlation_id.set("cid-1")
    try:
        logs.info(log, "call", fields)
        log.info("call", extra=fields)
    finally:
        logs.correlation_id.reset(token)
        logging.root.setLevel(level)
    fast, slow = stream.getvalue().splitlines()
    assert "191212121212" not in fast and "121212-1212" not in fast and fast.count("[personnummer]") == 3
    as_read = [json.loads(line) for line in (fast, slow)]
    for entry in as_read:
        entry.pop("time")
    assert as_read[0] == as_read[1] and list(as_read[0]) == list(as_read[1])
    untimed = [re.sub(r'^\{"time": "[^"]*"', "", line) for line in (fast, slow)]
    assert untimed[0] == untimed[1], "the same text but for the time"


def test_a_call_line_goes_through_logging_when_another_handler_listens(caplog):
    import logging

    from ntjp_producer import logs

    with caplog.at_level(logging.INFO):
        logs.info(logging.getLogger("ntjp_producer.test"), "call", {"status": 200})
    assert [(r.message, r.status) for r in caplog.records] == [("call", 200)]
