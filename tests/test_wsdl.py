"""Each endpoint serves its WSDL at ?wsdl with schema imports resolvable from the same server, and
a consumer can generate a working client from the running producer alone."""

from __future__ import annotations

import pytest
import zeep
from lxml import etree

from tests.helpers import LOGICAL_ADDRESS, REPO, ValidatingPlugin

pytestmark = [pytest.mark.slow, pytest.mark.once]
CONTRACTS = ["GetFmb", "GetDiagnosInformation", "GetVersions", "PingForConfiguration"]


@pytest.mark.parametrize("contract", CONTRACTS)
def test_wsdl_is_the_contract_file_with_resolvable_imports(server, contract):
    session = server.session()
    url = f"{server.base_url}/{contract}/1/rivtabp21"
    served = etree.fromstring(session.get(url + "?wsdl", timeout=10).content)
    original = etree.parse(str(REPO / "wsdl" / f"{contract}Interaction_1.0_RIVTABP21.wsdl")).getroot()
    assert served.get("targetNamespace") == original.get("targetNamespace")
    assert served.xpath("//*[local-name()='address']/@location") == [url]
    locations = served.xpath("//*[local-name()='import']/@schemaLocation")
    assert locations and all(loc.startswith(url + "?xsd=schemas/") for loc in locations)
    seen, todo = set(), list(locations)
    while todo:  # follow every import, transitively
        loc = todo.pop()
        if loc in seen:
            continue
        seen.add(loc)
        response = session.get(loc, timeout=10)
        assert response.status_code == 200, loc
        todo += etree.fromstring(response.content).xpath("//*[local-name()='import']/@schemaLocation")
    assert any("core_components" in loc for loc in seen)


def test_zeep_client_from_the_served_wsdl_works(server):
    plugin = ValidatingPlugin("GetFmb")
    client = zeep.Client(
        f"{server.base_url}/GetFmb/1/rivtabp21?wsdl",
        transport=zeep.Transport(session=server.session()),
        plugins=[plugin],
    )
    response = client.service.GetFmb(_soapheaders={"LogicalAddress": LOGICAL_ADDRESS}, diagnosKod=[{"code": "J20"}])
    assert response.beslutsunderlag and response.version.senateAndring


@pytest.mark.parametrize("path", ["../pyproject.toml", "schemas/../../pyproject.toml", "/etc/passwd", "wsdl/x.wsdl"])
def test_xsd_parameter_serves_nothing_outside_schemas(server, path):
    r = server.session().get(f"{server.base_url}/GetFmb/1/rivtabp21", params={"xsd": path}, timeout=10)
    assert r.status_code == 404
