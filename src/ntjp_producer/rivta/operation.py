"""How a RIV-TA operation is declared in Spyne, in one place.

RIV-TA puts the request element itself (``{responder}GetFmb``) directly in the SOAP Body, with no
wrapper, and answers ``{responder}GetFmbResponse``; in Spyne that is a *bare* body with the message
names set explicitly. A Spyne ``Application`` whose ``tns`` is the responder namespace then gives
the right shape (see ``../shared/reference/spyne-notes.md``).
"""

from __future__ import annotations

from spyne import Application, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication


def operation(name: str, request: type, response: type):
    """The ``@rpc`` decorator for RIV-TA operation ``name``."""
    return rpc(
        request,
        _body_style="bare",
        _returns=response,
        _operation_name=name,
        _in_message_name=name,
        _out_message_name=f"{name}Response",
    )


def wsgi(service, responder_ns: str) -> WsgiApplication:
    """A contract adapter as a WSGI application the plumbing dispatches to."""
    return WsgiApplication(Application([service], tns=responder_ns, in_protocol=Soap11(), out_protocol=Soap11()))
