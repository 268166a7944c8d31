"""Who may see what (förordning 2006:196 § 7 a), directly and through the platform, against a real
HoSp producer over mutual TLS. Every response is validated against the contract schemas."""

from __future__ import annotations

import pytest

from ntjp_producer.hosp.access import CRITERION_ITEMS, VISIBLE_ITEMS, ConsumerType
from tests.helpers import fault_of
from tests.hosp_client import HSA, items_in, persons, pnr_of
from tests.hosp_data import FULL

pytestmark = pytest.mark.slow

# The law, written out again here so that a wrong table in the code cannot pass as right.
LAW = {
    "ivo": set(range(1, 13)),
    "public_provider": {1, 3, 5, 6, 7, 8, 9, 10, 11},
    "social_services": {1, 3, 11},
    "transportstyrelsen": {1, 3, 5, 7, 8, 9},
}
DEV_CLIENT = {"ivo": "ivo", "public_provider": "region", "social_services": "socialnamnd",
              "transportstyrelsen": "transportstyrelsen"}  # fmt: skip
FULL_SEARCH = {"birthDate": FULL[:8], "surname": "Ängström"}


def test_the_table_in_the_code_is_the_law():
    assert {t.value: set(items) for t, items in VISIBLE_ITEMS.items()} == LAW
    assert set(CRITERION_ITEMS.values()) <= set(range(1, 13))


@pytest.mark.parametrize("route", ["direct", "platform"])
@pytest.mark.parametrize("consumer_type", sorted(LAW))
def test_field_matrix_in_both_contracts(hosp, consumer_type, route):
    """The FULL person has all twelve items: each visible one is there, every other one absent."""
    client = DEV_CLIENT[consumer_type]
    how = {"client": client} if route == "direct" else {"via_platform_for": client}

    (person,) = persons(hosp.get(FULL, **how))
    assert items_in(person) == LAW[consumer_type], "GetHealthcareProfessional"

    found = persons(hosp.search(FULL_SEARCH, **how))
    assert [pnr_of(p) for p in found] == [FULL]
    assert items_in(found[0]) == LAW[consumer_type], "SearchHealthcareProfessionals"


@pytest.mark.parametrize("consumer_type", sorted(LAW))
def test_field_matrix_through_zeep(hosp, consumer_type):
    """The same answer as a generated client sees it (zeep from wsdl/, validated against schemas/)."""
    answer = hosp.zeep("GetHealthcareProfessional", DEV_CLIENT[consumer_type], personalIdentityNumber=FULL)
    hp = answer.healthcareProfessional
    present = {name for name, value in hp.__values__.items() if value not in (None, []) and name != "_value_1"}
    from tests.hosp_client import ELEMENT_ITEMS

    assert {ELEMENT_ITEMS[name] for name in present} == LAW[consumer_type]
    assert hp.personalData.personalIdentity.extension == FULL
    assert [p.code for p in hp.profession] == ["LK", "TL"]


@pytest.mark.parametrize("route", ["direct", "platform"])
@pytest.mark.parametrize("consumer_type", sorted(LAW))
@pytest.mark.parametrize("criterion", [{"countyCode": "24"}, {"municipalityCode": "2480"}])
def test_only_ivo_may_search_by_place_of_registration(hosp, consumer_type, route, criterion):
    client = DEV_CLIENT[consumer_type]
    how = {"client": client} if route == "direct" else {"via_platform_for": client}
    response = hosp.search({**criterion, "surname": "Ängström"}, **how)
    if consumer_type == "ivo":
        assert [pnr_of(p) for p in persons(response)] == [FULL]
    else:
        code, message = fault_of(response)
        assert code == "Client" and message.startswith("Access denied")
        assert FULL not in response.text


@pytest.mark.parametrize("client", ["private-provider", "unknown"])
@pytest.mark.parametrize("contract", ["get", "search"])
def test_private_and_unknown_are_refused_directly_and_through_the_platform(hosp, client, contract):
    for how in ({"client": client}, {"via_platform_for": client}):
        response = hosp.get(FULL, **how) if contract == "get" else hosp.search(FULL_SEARCH, **how)
        assert fault_of(response) == ("Client", "Access denied")
        assert FULL not in response.text and "Ängström" not in response.text


def test_platform_without_original_consumer_is_refused(hosp):
    assert fault_of(hosp.get(FULL, client="ntjp")) == ("Client", "Access denied")


def test_a_direct_caller_claiming_to_be_ivo_gets_its_own_field_set(hosp, hosp_server):
    response = hosp.get(FULL, client="region", original=HSA["ivo"])
    (person,) = persons(response)
    assert items_in(person) == LAW["public_provider"]
    assert 2 not in items_in(person), "place of registration is IVO's only"
    log = hosp_server.log_path.read_text()
    assert "ignored original-consumer header" in log
    # The audit trail names the caller the certificate proved, not the one the header claimed.
    (record,) = [r for r in hosp.trail.by_consumer(HSA["region"]) if r["correlation_id"] == response.headers[
        "x-skltp-correlation-id"]]  # fmt: skip
    assert record["consumer_type"] == ConsumerType.PUBLIC_PROVIDER and record["via_platform"] is False


def test_ping_for_configuration_answers_the_platform_and_consumers_only(hosp):
    ok = hosp.post("PingForConfiguration", "<r:serviceContractNamespace>x</r:serviceContractNamespace>"
                   "<r:logicalAddress>SE2021000555</r:logicalAddress>", client="ntjp")  # fmt: skip
    assert ok.status_code == 200 and "dbStatus" in ok.text and "persons" in ok.text
    refused = hosp.post("PingForConfiguration", "<r:serviceContractNamespace>x</r:serviceContractNamespace>"
                        "<r:logicalAddress>SE2021000555</r:logicalAddress>", client="unknown")  # fmt: skip
    assert fault_of(refused) == ("Client", "Access denied")
