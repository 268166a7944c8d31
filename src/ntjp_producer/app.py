"""Assembling a producer: transport -> RIV-TA plumbing -> contract adapters -> domain -> storage."""

from __future__ import annotations

from ntjp_producer import ns
from ntjp_producer.rivta import operation
from ntjp_producer.rivta.contracts import Contract
from ntjp_producer.rivta.ping import build_ping_service
from ntjp_producer.rivta.wsgi import RivtaApplication
from ntjp_producer.settings import Settings
from ntjp_producer.storage import db
from ntjp_producer.transport.identity import CallerIdentity


def create_fmb_app(settings: Settings):
    from ntjp_producer.fmb.services import FmbService
    from ntjp_producer.fmb.soap import build_services

    fmb = FmbService(db.session_factory(settings.db))
    contracts = [
        Contract(name, ns.fmb_responder(name), operation.wsgi(service, ns.fmb_responder(name)))
        for name, service in build_services(fmb).items()
    ]
    contracts.append(
        Contract(
            "PingForConfiguration", ns.PING_RESPONDER, operation.wsgi(build_ping_service(fmb.health), ns.PING_RESPONDER)
        )
    )
    rivta = RivtaApplication(
        contracts, logical_addresses=settings.logical_addresses, max_body_bytes=settings.max_body_bytes
    )
    return CallerIdentity(rivta)


FACTORIES = {"fmb": create_fmb_app}


def create_app(settings: Settings):
    try:
        factory = FACTORIES[settings.service]
    except KeyError:
        raise ValueError(f"unknown service '{settings.service}'; known: {', '.join(FACTORIES)}") from None
    return factory(settings)
