"""Harvest protection: a social-services board that walks the register is stopped, operations are
told (event, metric, status page), ordinary lookups within the quota work, and IVO is never limited.

A HoSp server of its own, with a registry that gives the social-services board a quota of 60 persons;
the register is the suite's synthetic one.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import requests

from tests.helpers import fault_of, metric_sum, start_server, stop_server
from tests.hosp_client import HSA, HospClient, persons, pnr_of

pytestmark = pytest.mark.slow
QUOTA = 60


@pytest.fixture(scope="module")
def guarded(hosp_db, tls_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("harvest")
    registry = (tls_dir / "consumers.toml").read_text()
    registry = registry.replace(
        f'"{HSA["socialnamnd"]}" = {{ type = "social_services"',
        f'"{HSA["socialnamnd"]}" = {{ quota = {QUOTA}, type = "social_services"',
    )
    assert f"quota = {QUOTA}" in registry
    (folder / "consumers.toml").write_text(registry)
    server = start_server(hosp_db, tls_dir, folder / "server.log", service="hosp",
                          extra=["--consumers", str(folder / "consumers.toml")])  # fmt: skip
    yield server
    stop_server(server)


def test_a_register_sweep_is_stopped_and_operations_are_told(guarded, hosp_extract):
    people = [json.loads(line) for line in hosp_extract.read_text().splitlines()]
    client = HospClient(guarded)
    board = "socialnamnd"

    # An ordinary lookup works: a name with a birth date, and a lookup by identity number.
    someone = people[0]
    found = persons(client.search({"surname": someone["efternamn"][:3], "birthDate": someone["personnummer"][:8]},
                                  client=board))  # fmt: skip
    assert someone["personnummer"] in {pnr_of(p) for p in found}
    assert persons(client.get(people[1]["personnummer"], client=board))

    # The sweep as filed: every birth date. Not a lookup, so each call is refused and answers nobody.
    day = dt.date(1945, 1, 1)
    for _ in range(20):
        code, message = fault_of(client.search({"birthDate": day.strftime("%Y%m%d")}, client=board))
        assert code == "Client" and "not specific enough" in message
        day += dt.timedelta(days=1)

    # A sweep that names people (two-letter prefixes with a profession) is stopped by the quota.
    answered, refused = set(), 0
    for first in "ABDEFGHIJKLMNOPRSTUVW":
        for second in "AEIOU":
            response = client.search({"surname": first + second, "professionCode": "SJ"}, client=board)
            if response.status_code == 200:
                answered |= {pnr_of(p) for p in persons(response)}
            else:
                code, message = fault_of(response)
                assert code == "Client" and "Quota reached" in message, message
                refused += 1
    assert refused > 0 and len(answered) <= QUOTA, (len(answered), refused)
    print(f"\nsweep by name prefixes: {len(answered)} persons answered, then {refused} calls refused (quota {QUOTA})")

    # The quota holds for lookups by identity number too, and for nobody else.
    code, message = fault_of(client.get(people[200]["personnummer"], client=board))
    assert code == "Client" and "Quota reached" in message
    assert persons(client.get(people[200]["personnummer"], client="region"))
    assert len(persons(client.search({"professionCode": "SJ"}, client="ivo"))) == 100, "IVO keeps full access"

    # Operations: one harvest_suspected event, a metric, the status page, the audit trail.
    log = [json.loads(line) for line in guarded.log_path.read_text().splitlines() if line.startswith("{")]
    events = [e for e in log if e.get("event") == "harvest_suspected"]
    assert 1 <= len(events) <= 2, "one per consumer and window in each of the two workers at most"
    assert events[0]["consumer_hsaid"] == HSA[board] and events[0]["quota"] == QUOTA
    metrics = requests.get(f"{guarded.ops_url}/metrics", timeout=10).text
    assert metric_sum(metrics, "ntjp_harvest_refusals_total", consumer_hsaid=HSA[board], reason="quota") == refused + 1
    assert metric_sum(metrics, "ntjp_harvest_refusals_total", consumer_hsaid=HSA[board], reason="not specific") == 20
    page = requests.get(f"{guarded.ops_url}/", timeout=10).text
    assert "HARVEST SUSPECTED" in page and HSA[board] in page and f"quota: {refused + 1} refused" in page
    refusals = [a for a in client.trail.by_consumer(HSA[board]) if a["refusal"]]
    assert {a["refusal"] for a in refusals} == {"quota", "not specific"} and len(refusals) == refused + 21
    assert all(a["returned"] == [] and a["outcome"] == "refused" for a in refusals)

