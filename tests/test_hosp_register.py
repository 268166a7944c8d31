"""HoSp searches people expect, the audit trail, and what a bad question gets."""

from __future__ import annotations

import subprocess
import sys

import pytest
from lxml import etree
from sqlalchemy import text

from ntjp_producer.hosp.names import name_key
from ntjp_producer.storage import db
from tests.helpers import fault_of, metric_sum, metrics_once
from tests.hosp_client import HSA, items_in, more_results, persons, pnr_of
from tests.hosp_data import FULL, NOT_IN_REGISTER, OSTBERG, OSTROM_O, OSTROM_PLAIN, REVOKED, SAMORDNING, records

pytestmark = pytest.mark.slow

# -- search -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("surname", "includes", "excludes"),
    [
        ("ostrom", {OSTROM_PLAIN}, {OSTROM_O}),  # o is not ö
        ("öström", {OSTROM_O}, {OSTROM_PLAIN}),
        ("ÖSTRÖM", {OSTROM_O}, {OSTROM_PLAIN}),
        ("Öst", {OSTROM_O, OSTBERG}, {OSTROM_PLAIN}),  # prefix
        ("ost", {OSTROM_PLAIN}, {OSTROM_O, OSTBERG}),
    ],
)
def test_names_match_by_prefix_case_insensitively_letter_for_letter(hosp, hosp_extract, surname, includes, excludes):
    # IVO: a name alone is a lookup only for the supervisor (others need a birth date or profession too)
    found = {pnr_of(p) for p in persons(hosp.search({"surname": surname}, client="ivo"))}
    assert includes <= found and not (excludes & found)
    register = records(hosp_extract)
    expected = {r["personnummer"] for r in register if r["efternamn"].casefold().startswith(surname.casefold())}
    assert found == expected


def test_given_name_and_birth_date(hosp):
    assert [pnr_of(p) for p in persons(hosp.search({"givenName": "örj", "birthDate": OSTROM_O[:8]}))] == [OSTROM_O]
    assert persons(hosp.search({"givenName": "orj", "birthDate": OSTROM_O[:8]})) == []


def test_coordination_number_is_found_by_its_birth_date(hosp):
    (person,) = persons(hosp.search({"birthDate": "19380120", "surname": "hassan"}))
    assert pnr_of(person) == SAMORDNING
    assert person.findtext(".//{*}personalIdentity/{*}root") == "1.2.752.129.2.1.3.3"


def test_revoked_licence_is_shown_as_revoked_not_hidden(hosp):
    (person,) = persons(hosp.get(REVOKED, client="region"))
    assert [c.findtext("{*}code") for c in person.findall("{*}profession")] == ["LK"]
    (decision,) = person.findall("{*}probationOrRevocation")
    assert decision.findtext("{*}decision/{*}code") == "ATERKALLELSE"
    assert decision.findtext("{*}decision/{*}displayName") == "Legitimationen återkallad"
    assert decision.findtext("{*}decisionDate") == "20240404"
    # and a search by profession still finds the person
    found = persons(hosp.search({"professionCode": "LK", "surname": "åkesson", "birthDate": REVOKED[:8]}))
    assert [pnr_of(p) for p in found] == [REVOKED]


def test_codes_carry_code_system_and_display_name(hosp):
    (person,) = persons(hosp.get(FULL, client="ivo"))
    coded = [el for el in person.iter() if el.find("{*}code") is not None]
    assert len(coded) > 15
    for cv in coded:
        assert cv.findtext("{*}codeSystem") and cv.findtext("{*}codeSystemName") and cv.findtext("{*}displayName"), cv
    assert person.findtext("{*}populationRegistration/{*}municipality/{*}displayName") == "Umeå"


def test_result_is_bounded_with_a_more_indicator_and_a_stable_order(hosp, hosp_extract):
    register = records(hosp_extract)
    nurses = [r for r in register if any(leg["yrke"] == "SJ" for leg in r["legitimationer"])]
    assert len(nurses) > 100
    expected = sorted(nurses, key=lambda r: (name_key(r["efternamn"]), name_key(r["fornamn"]), r["personnummer"]))

    first = hosp.search({"professionCode": "SJ"}, client="ivo")
    assert [pnr_of(p) for p in persons(first)] == [r["personnummer"] for r in expected[:100]]
    assert more_results(first) is True
    again = hosp.search({"professionCode": "SJ"}, client="ivo")
    assert [pnr_of(p) for p in persons(again)] == [pnr_of(p) for p in persons(first)]

    five = hosp.search({"professionCode": "SJ", "maxResults": 5}, client="ivo")
    assert [pnr_of(p) for p in persons(five)] == [r["personnummer"] for r in expected[:5]]
    one = hosp.search({"surname": "öström"})
    assert more_results(one) is False


@pytest.mark.parametrize(
    ("criteria", "words"),
    [
        ({}, "at least one search criterion"),
        ({"professionCode": "XX"}, "Unknown professionCode"),
        ({"birthDate": "19350231"}, "not a valid date"),
        ({"maxResults": 101}, "does not conform"),
        ({"surname": "   "}, "must contain letters"),
    ],
)
def test_bad_search_is_a_client_fault(hosp, criteria, words):
    code, message = fault_of(hosp.search(criteria))
    assert code == "Client" and words in message


@pytest.mark.parametrize(
    ("pnr", "words"),
    [
        (FULL[:11] + str((int(FULL[11]) + 1) % 10), "check digit is wrong"),
        ("193502301234", "valid date"),
        ("19350314", "does not conform"),
    ],
)
def test_invalid_personal_identity_number_is_a_client_fault(hosp, pnr, words):
    response = hosp.get(pnr)
    code, message = fault_of(response)
    assert code == "Client" and words in message


def test_person_not_in_register_is_an_empty_answer(hosp):
    assert persons(hosp.get(NOT_IN_REGISTER)) == []


def test_wrong_logical_address_is_refused_and_audited(hosp):
    code, message = fault_of(hosp.get(FULL, logical_address="SE0000000000"))
    assert code == "Client" and "LogicalAddress" in message


# -- the audit trail ---------------------------------------------------------------------------------


def test_audit_record_of_a_call_through_the_platform(hosp):
    response = hosp.get(FULL, via_platform_for="region")
    cid = response.headers["x-skltp-correlation-id"]
    (record,) = [r for r in hosp.trail.about_person(FULL) if r["correlation_id"] == cid]
    assert record["consumer_hsaid"] == HSA["region"]
    assert record["via_platform"] is True and record["platform_hsaid"] == HSA["ntjp"]
    assert record["consumer_type"] == "public_provider"
    assert record["contract"] == "GetHealthcareProfessional"
    assert record["criteria"] == {"personalIdentityNumber": FULL}
    assert record["returned"] == [FULL] and record["outcome"] == "ok"
    assert sorted(record["roles"]) == ["asked", "returned"]


def test_audit_record_of_a_search_and_of_a_refusal(hosp):
    response = hosp.search({"surname": "öst"}, client="ivo")
    cid = response.headers["x-skltp-correlation-id"]
    (record,) = [r for r in hosp.trail.by_consumer(HSA["ivo"]) if r["correlation_id"] == cid]
    assert record["criteria"] == {"surname": "öst"}
    assert record["returned"] == [pnr_of(p) for p in persons(response)]
    assert {OSTROM_O, OSTBERG} <= set(record["returned"])

    refused = hosp.search({"surname": "öst"}, client="private-provider")
    cid = refused.headers["x-skltp-correlation-id"]
    (record,) = [r for r in hosp.trail.by_consumer(HSA["private-provider"]) if r["correlation_id"] == cid]
    assert record["outcome"] == "refused" and record["consumer_type"] is None and record["returned"] == []


def test_audit_cli_answers_who_looked_at_a_person_and_what_a_consumer_looked_at(hosp, hosp_server):
    hosp.get(OSTBERG, client="transportstyrelsen")
    cli = [sys.executable, "-m", "ntjp_producer", "hosp", "audit", "--db", hosp_server.db_url]
    person = subprocess.run([*cli, "--person", OSTBERG], capture_output=True, text=True, check=True)
    assert HSA["transportstyrelsen"] in person.stdout and "(transportstyrelsen, direct)" in person.stdout
    consumer = subprocess.run([*cli, "--consumer", HSA["transportstyrelsen"]], capture_output=True, text=True,
                              check=True)  # fmt: skip
    assert OSTBERG in consumer.stdout and "GetHealthcareProfessional" in consumer.stdout
    bad = subprocess.run([*cli, "--person", "123"], capture_output=True, text=True)
    assert bad.returncode == 2 and "12 digits" in bad.stderr and "Traceback" not in bad.stderr


def test_audit_trail_is_append_only(hosp, hosp_server):
    hosp.get(FULL, client="ivo")  # a record and its person, whatever ran before (a row trigger needs a row)
    engine = db.engine_for(hosp_server.db_url)
    for statement in ("UPDATE hosp_audit SET outcome = 'ok'", "DELETE FROM hosp_audit",
                      "DELETE FROM hosp_audit_person"):  # fmt: skip
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))


def test_personal_data_is_not_in_the_service_log(hosp, hosp_server):
    hosp.get(FULL, client="ivo")
    log = hosp_server.log_path.read_text()
    assert FULL not in log and "Ängström" not in log and "Märta" not in log


# -- items the register does not hold are simply absent ---------------------------------------------


def test_items_not_in_the_register_are_absent(hosp):
    (person,) = persons(hosp.get(SAMORDNING, client="ivo"))
    assert 2 not in items_in(person), "no folkbokföring recorded"
    assert etree.QName(person[0]).localname == "personalData"


# -- operations see HoSp like every other contract, by consumer type and route ---------------------


def test_hosp_calls_are_measured_by_consumer_type_and_route(hosp, hosp_server):
    import requests

    def count(text: str, **labels) -> float:
        return metric_sum(text, "ntjp_calls_by_consumer_total", **labels)

    contract = {"service": "hosp", "contract": "GetHealthcareProfessional"}
    before = requests.get(f"{hosp_server.ops_url}/metrics", timeout=10).text
    hosp.get(OSTBERG, client="socialnamnd")
    hosp.get(OSTBERG, via_platform_for="socialnamnd")
    hosp.get(OSTBERG, client="unknown")
    after = metrics_once(hosp_server.ops_url, "ntjp_calls_total",
                         metric_sum(before, "ntjp_calls_total", **contract) + 3, **contract)  # fmt: skip
    social = {**contract, "consumer_type": "social_services"}
    assert count(after, route="direct", **social) - count(before, route="direct", **social) == 1
    assert count(after, route="platform", **social) - count(before, route="platform", **social) == 1
    refused = {**contract, "outcome": "refused"}
    assert metric_sum(after, "ntjp_calls_total", **refused) - metric_sum(before, "ntjp_calls_total", **refused) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body>",
        b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]><s>&x;</s>',
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><l>&b;</l>',
    ],
    ids=["malformed", "external entity", "entity expansion"],
)
def test_hostile_xml_from_a_registered_consumer_is_a_client_fault_and_audited(hosp, body):
    hosp.calls += 1
    response = hosp.server.session("ivo").post(
        f"{hosp.server.base_url}/GetHealthcareProfessional/1/rivtabp21",
        data=body,
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=30,
    )
    code, _message = fault_of(response)
    assert code == "Client" and "root:" not in response.text
