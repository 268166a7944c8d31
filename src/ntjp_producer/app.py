"""Assembling a producer: transport -> RIV-TA plumbing -> contract adapters -> domain -> storage."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ntjp_producer import ns
from ntjp_producer.rivta.contracts import Contract
from ntjp_producer.rivta.ping import PING, ping_contract
from ntjp_producer.rivta.wsgi import RivtaApplication
from ntjp_producer.settings import Settings
from ntjp_producer.storage import db
from ntjp_producer.transport.identity import CallerIdentity


class PathRouter:
    """Sends ``/fmb/...`` to the JSON API and everything else to the RIV-TA plumbing."""

    def __init__(self, prefixes: dict[str, object], default) -> None:
        self.prefixes = prefixes
        self.default = default

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        for prefix, app in self.prefixes.items():
            if path.startswith(prefix):
                return app(environ, start_response)
        return self.default(environ, start_response)


def create_fmb_app(settings: Settings):
    from ntjp_producer.fmb.api import PREFIX, FmbJsonApi
    from ntjp_producer.fmb.services import FmbService
    from ntjp_producer.fmb.soap import HANDLERS

    fmb = FmbService(db.session_factory(settings.db))
    measurement = _measurement(settings)
    api = FmbJsonApi(fmb, base_url=settings.base_url or None, observe=measurement["observe"], service="fmb")
    contracts = [Contract(name, ns.fmb_responder(name), reader=reader, handler=handler(fmb))
                 for name, (reader, handler) in HANDLERS.items()]  # fmt: skip
    contracts.append(ping_contract(fmb.health))
    rivta = RivtaApplication(
        contracts,
        logical_addresses=settings.logical_addresses,
        max_body_bytes=settings.max_body_bytes,
        **measurement,
    )
    return CallerIdentity(PathRouter({PREFIX + "/": api}, rivta), platform_hsaids=frozenset(settings.platform_hsaids))


def create_fmb_public_app(settings: Settings):
    """FMB is public information: the JSON API alone, read-only, on plain HTTP, no SOAP."""
    from ntjp_producer.fmb.api import PREFIX, FmbJsonApi
    from ntjp_producer.fmb.services import FmbService

    observe = _measurement(settings)["observe"]
    api = FmbJsonApi(FmbService(db.session_factory(settings.db)), base_url=settings.base_url or None,
                     observe=observe, service="fmb-public")  # fmt: skip
    return PathRouter({PREFIX + "/": api}, _not_found)


def _not_found(environ, start_response):
    body = b'{"errors":[{"status":"404","title":"Not Found","detail":"Only /fmb/ is served here"}]}'
    start_response("404 Not Found", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def create_hosp_app(settings: Settings):
    from ntjp_producer.hosp import access, soap
    from ntjp_producer.hosp.audit import AuditTrail
    from ntjp_producer.hosp.harvest import HarvestGuard, Limits
    from ntjp_producer.hosp.services import HospService
    from ntjp_producer.rivta.calls import AccessDenied

    registry = access.load_registry(settings.consumers_path)
    sessions = db.session_factory(settings.db)
    hosp = HospService(sessions)
    trail = AuditTrail(sessions)
    guard = HarvestGuard(
        trail.persons_returned_since,
        Limits(settings.harvest_min_name_letters, settings.harvest_quota_persons, settings.harvest_quota_hours),
        registry.quotas,
        on_suspected=_harvest_suspected,
        on_refused=_harvest_refused if settings.measure else None,
    )
    contracts = [
        Contract(soap.GET, ns.hosp_responder(soap.GET), handler=soap.get_handler(hosp, guard)),
        Contract(soap.SEARCH, ns.hosp_responder(soap.SEARCH), handler=soap.search_handler(hosp, guard)),
        ping_contract(hosp.health),
    ]

    def authorise(environ, contract: Contract) -> str:
        """Only registered consumers, and the platform's own monitoring ping, get past here."""
        if contract.name == PING and environ.get("ntjp.via_platform"):
            return "platform"
        consumer = registry.consumer_type(environ.get("ntjp.consumer_hsaid"))
        if consumer is None:
            raise AccessDenied()
        return consumer.value

    rivta = RivtaApplication(
        contracts,
        logical_addresses=settings.logical_addresses,
        max_body_bytes=settings.max_body_bytes,
        authorise=authorise,
        audit=trail.record,
        **_measurement(settings),
    )
    return CallerIdentity(rivta, platform_hsaids=registry.platform)


def _harvest_suspected(hsa_id: str, consumer_type: str, persons: int, quota: int) -> None:
    """Operations' view of a consumer that reached its quota: one event per consumer and window."""
    logging.getLogger("ntjp_producer.hosp.harvest").warning(
        "harvest_suspected",
        extra={"event": "harvest_suspected", "consumer_hsaid": hsa_id, "consumer_type": consumer_type,
               "persons_in_window": persons, "quota": quota},
    )  # fmt: skip


def _harvest_refused(hsa_id: str | None, consumer_type: str | None, reason: str) -> None:
    from ntjp_producer.ops.measure import prometheus

    prometheus().harvest.labels(hsa_id or "", consumer_type or "", reason).inc()


# The RIV-TA contracts each service answers, for the status page.
CONTRACTS = {
    "fmb": ["GetFmb", "GetDiagnosInformation", "GetVersions", "PingForConfiguration",
            "fmb/typfall", "fmb/forsakringsmedicinskdiagnosinformation"],
    "fmb-public": ["fmb/typfall", "fmb/forsakringsmedicinskdiagnosinformation"],
    "hosp": ["GetHealthcareProfessional", "SearchHealthcareProfessionals", "PingForConfiguration"],
}
FACTORIES = {"fmb": create_fmb_app, "fmb-public": create_fmb_public_app, "hosp": create_hosp_app}
# Services without mutual TLS: only public, read-only data may ever be listed here.
PLAIN_HTTP_SERVICES = frozenset({"fmb-public"})


def _measurement(settings: Settings) -> dict:
    """Every RIV-TA contract is measured by the plumbing; nothing per contract."""
    from ntjp_producer.ops.measure import Recorder

    recorder = None
    if settings.measure:
        recorder = Recorder(db.engine_for(settings.db), flush_seconds=settings.ops_flush_seconds)
    return {
        "service": settings.service,
        "observe": recorder.observe if recorder else None,
        "inject_faults": settings.inject_faults,
    }


def create_app(settings: Settings):
    try:
        factory = FACTORIES[settings.service]
    except KeyError:
        raise ValueError(f"unknown service '{settings.service}'; known: {', '.join(FACTORIES)}") from None
    return factory(settings)


def health_of(settings: Settings) -> Callable[[], dict[str, str]]:
    """The product's health: the same checks as its PingForConfiguration."""
    sessions = db.session_factory(settings.db)
    if settings.service == "hosp":
        from ntjp_producer.hosp.services import HospService

        return HospService(sessions).health
    from ntjp_producer.fmb.services import FmbService

    return FmbService(sessions).health


def start_operations(settings: Settings) -> Callable[[Callable[[], bool]], None] | None:
    """What the gunicorn master starts once it is ready: the operations listener (metrics, status
    page, /health) with the product's health check; None when there is none to start."""
    if not settings.ops_bind or settings.service in PLAIN_HTTP_SERVICES:
        return None

    def start(draining: Callable[[], bool]) -> None:
        from ntjp_producer.ops import server as ops

        try:
            ops.start(settings, CONTRACTS.get(settings.service, []), health_of(settings), draining=draining)
        except OSError as exc:  # the producer still serves; operations must see this line
            logging.getLogger("ntjp_producer.ops").error(
                "operations listener not started", extra={"ops_bind": settings.ops_bind, "reason": str(exc)}
            )

    return start


def server(settings: Settings):
    """The producer under gunicorn, assembled: its application and its operations listener."""
    from ntjp_producer.transport.server import ProducerServer

    check = None
    if settings.service == "hosp":
        from ntjp_producer.hosp.access import load_registry

        def check() -> None:  # what a new HoSp worker reads besides the certificates
            load_registry(settings.consumers_path)

    return ProducerServer(settings, create_app, plain=settings.service in PLAIN_HTTP_SERVICES,
                          on_ready=start_operations(settings), check=check)  # fmt: skip
