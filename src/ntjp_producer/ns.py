"""Every XML namespace the producer speaks, in one place.

RIV-TA puts the request and response wrappers in the contract's *responder* namespace and the
children of shared types in the *domain* namespace; mixing them up is the commonest way a producer
breaks generated consumers, so nothing else in the code spells a namespace out.
"""

SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
XSD = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
WSDL = "http://schemas.xmlsoap.org/wsdl/"

REGISTRY = "urn:riv:itintegration:registry:1"
MONITORING = "urn:riv:itintegration:monitoring:1"
PING_RESPONDER = "urn:riv:itintegration:monitoring:PingForConfigurationResponder:1"

FMB_BASE = "urn:riv:processmanagement:decisionsupport:insurancemedicinedecisionsupport"
FMB = f"{FMB_BASE}:1"


def fmb_responder(contract: str) -> str:
    """Responder namespace of an FMB contract, e.g. ``...:GetFmbResponder:1``."""
    return f"{FMB_BASE}:{contract}Responder:1"


def soap_action(responder_ns: str, operation: str) -> str:
    return f"{responder_ns}:{operation}"

HOSP_BASE = "urn:riv:strategicresourcemanagement:persons:healthcareprofessional"
HOSP = f"{HOSP_BASE}:1"


def hosp_responder(contract: str) -> str:
    """Responder namespace of a HoSp contract, e.g. ``...:GetHealthcareProfessionalResponder:1``."""
    return f"{HOSP_BASE}:{contract}Responder:1"
