"""Who a call is, in the audit trail: only the platform's correlation id is taken as the call's (a
direct consumer's is recorded beside a new one), and a platform call without the original-consumer
header is audited under the platform's own HSA-id, so `hosp audit --consumer` finds it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import envelope, fault_of
from tests.hosp_client import HSA

pytestmark = pytest.mark.slow
HEADER = "x-skltp-correlation-id"


def _records_for(hosp, hsaid: str) -> list[dict]:
    return hosp.trail.by_consumer(hsaid)


def test_a_direct_consumers_correlation_id_is_recorded_beside_a_new_one(hosp, hosp_extract):
    pnr = hosp_extract.read_text().split('"personnummer": "', 1)[1][:12]
    body = f"<r:personalIdentityNumber>{pnr}</r:personalIdentityNumber>"
    hosp.calls += 1
    r = hosp.server.post(
        "GetHealthcareProfessional", envelope("GetHealthcareProfessional", body), client="ivo",
        headers={HEADER: "chosen-by-the-consumer"},
    )  # fmt: skip
    assert r.status_code == 200
    ours = r.headers[HEADER]
    assert ours != "chosen-by-the-consumer" and len(ours) >= 32
    record = _records_for(hosp, HSA["ivo"])[-1]
    assert record["correlation_id"] == ours and record["consumer_correlation_id"] == "chosen-by-the-consumer"


def test_the_platforms_correlation_id_is_the_calls(hosp, hosp_extract):
    pnr = hosp_extract.read_text().split('"personnummer": "', 1)[1][:12]
    hosp.calls += 1
    r = hosp.server.post(
        "GetHealthcareProfessional",
        envelope("GetHealthcareProfessional", f"<r:personalIdentityNumber>{pnr}</r:personalIdentityNumber>"),
        client="ntjp",
        headers={HEADER: "platform-trace-1", "x-rivta-original-serviceconsumer-hsaid": HSA["region"]},
    )
    assert r.status_code == 200 and r.headers[HEADER] == "platform-trace-1"
    record = _records_for(hosp, HSA["region"])[-1]
    assert record["correlation_id"] == "platform-trace-1" and record["consumer_correlation_id"] is None


def test_a_platform_call_without_the_consumer_header_is_audited_under_the_platform(hosp, hosp_server):
    before = len(_records_for(hosp, HSA["ntjp"]))
    response = hosp.search({"surname": "Ängström"}, client="ntjp")
    code, message = fault_of(response)
    assert code == "Client" and "Access denied" in message
    records = _records_for(hosp, HSA["ntjp"])
    assert len(records) == before + 1 and records[-1]["outcome"] == "refused" and records[-1]["via_platform"]
    out = subprocess.run(
        [sys.executable, "-m", "ntjp_producer", "hosp", "audit", "--consumer", HSA["ntjp"], "--db", hosp_server.db_url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0 and "SearchHealthcareProfessionals  refused" in out.stdout
