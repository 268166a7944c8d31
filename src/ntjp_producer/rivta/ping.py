"""PingForConfiguration, the platform's monitoring contract, answered by every producer.

It reports the application version and the state of each dependency the product names (for FMB:
the database and the imported release). A failing database is answered with a Server fault,
quickly, so the platform's monitor sees the producer as down instead of timing out.

Every type is in the responder namespace, as the published contract defines them (the core schema
only holds the timestamp type); a generated client reads ``configuration/name`` as null otherwise.
Ping is not addressed to a logical address: the plumbing answers it whatever the header holds
(``PING`` below, used where the contract is assembled).
"""

from __future__ import annotations

from collections.abc import Callable

from spyne import ComplexModel, ServiceBase, Unicode
from spyne.model.fault import Fault

from ntjp_producer import __version__, clock, ns
from ntjp_producer.rivta.contracts import Contract
from ntjp_producer.rivta.operation import operation, wsgi

R = ns.PING_RESPONDER
PING = "PingForConfiguration"


class ConfigurationType(ComplexModel):
    __namespace__ = R
    _type_info = [("name", Unicode(min_occurs=1)), ("value", Unicode(min_occurs=1))]


class PingForConfigurationType(ComplexModel):
    __namespace__ = R
    _type_info = [("serviceContractNamespace", Unicode(min_occurs=1)), ("logicalAddress", Unicode(min_occurs=1))]


class PingForConfigurationResponseType(ComplexModel):
    __namespace__ = R
    _type_info = [
        ("version", Unicode(min_occurs=1)),
        ("pingDateTime", Unicode(min_occurs=1)),
        ("configuration", ConfigurationType.customize(min_occurs=0, max_occurs="unbounded")),
    ]


def build_ping_service(health: Callable[[], dict[str, str]]) -> type[ServiceBase]:
    class PingForConfigurationResponder(ServiceBase):
        @operation("PingForConfiguration", PingForConfigurationType, PingForConfigurationResponseType)
        def PingForConfiguration(ctx, request):
            status = health()
            if status.get("dbStatus") != "ok":
                raise Fault("Server", "dbStatus=error: the database does not answer")
            if status.get("status", "ok") != "ok":
                details = "; ".join(f"{k}={v}" for k, v in status.items() if k.endswith("Status") and v != "ok")
                raise Fault("Server", f"degraded: {details}")
            return PingForConfigurationResponseType(
                version=__version__,
                pingDateTime=clock.stamp(clock.now()),
                configuration=[ConfigurationType(name=k, value=v) for k, v in status.items()],
            )

    return PingForConfigurationResponder


def ping_contract(health: Callable[[], dict[str, str]]) -> Contract:
    """The Ping endpoint of a product: answered whatever LogicalAddress the header holds."""
    return Contract(PING, R, wsgi(build_ping_service(health), R), addressed=False)
