"""Shared test helpers: paths, real clients against a real server, and response validation."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests
import zeep
from lxml import etree
from zeep.plugins import HistoryPlugin

from ntjp_producer.conformance import match, shapes

REPO = Path(__file__).resolve().parents[1]
SHARED_RELEASES = REPO.parent / "shared" / "data" / "fmb" / "releases"
LATEST = SHARED_RELEASES / "latest"
OLD = SHARED_RELEASES / "2018-02-05"
SAMPLE = REPO / "sample" / "fmb"
LOGICAL_ADDRESS = "SE2021000555"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
FMB_NS = "urn:riv:processmanagement:decisionsupport:insurancemedicinedecisionsupport"
HOSP_NS = "urn:riv:strategicresourcemanagement:persons:healthcareprofessional"
RESPONDER = {
    "GetFmb": f"{FMB_NS}:GetFmbResponder:1",
    "GetDiagnosInformation": f"{FMB_NS}:GetDiagnosInformationResponder:1",
    "GetVersions": f"{FMB_NS}:GetVersionsResponder:1",
    "PingForConfiguration": "urn:riv:itintegration:monitoring:PingForConfigurationResponder:1",
    "GetHealthcareProfessional": f"{HOSP_NS}:GetHealthcareProfessionalResponder:1",
    "SearchHealthcareProfessionals": f"{HOSP_NS}:SearchHealthcareProfessionalsResponder:1",
}
WSDL_NS = {c: r.replace("Responder:1", ":1:rivtabp21") for c, r in RESPONDER.items()}
WSDL_NS["PingForConfiguration"] = "urn:riv:itintegration:monitoring:PingForConfiguration:1:rivtabp21"

_schemas: dict[str, etree.XMLSchema] = {}


def responder_schema(contract: str) -> etree.XMLSchema:
    if contract not in _schemas:
        path = REPO / "schemas" / "interactions" / f"{contract}Interaction" / f"{contract}Responder_1.0.xsd"
        _schemas[contract] = etree.XMLSchema(etree.parse(str(path)))
    return _schemas[contract]


class ResponseInvalid(AssertionError):
    pass


def assert_valid_response(contract: str, envelope: etree._Element) -> etree._Element:
    """The Body's one child must be the contract's response, valid against schemas/ and, for the
    contracts whose deployed shape is known (FMB, PingForConfiguration), in exactly that shape."""
    body = envelope.find(f"{{{SOAP}}}Body")
    assert body is not None, "no SOAP Body"
    (child,) = list(body)
    if child.tag == f"{{{SOAP}}}Fault":
        return child
    assert child.tag == f"{{{RESPONDER[contract]}}}{contract}Response", child.tag
    schema = responder_schema(contract)
    detached = etree.fromstring(etree.tostring(child))
    if not schema.validate(detached):
        raise ResponseInvalid(f"{contract} response invalid: {schema.error_log.last_error}")
    if contract in shapes.RESPONSES:
        differences = match.problems(child, shapes.RESPONSES[contract], limit=10)
        if differences:
            raise ResponseInvalid(f"{contract} response differs from the deployed shape: {differences}")
    return child


class ValidatingPlugin(HistoryPlugin):
    """Validates every envelope a zeep client receives against the contract schemas."""

    def __init__(self, contract: str) -> None:
        super().__init__(maxlen=1)
        self.contract = contract

    def ingress(self, envelope, http_headers, operation):
        assert_valid_response(self.contract, envelope)
        return super().ingress(envelope, http_headers, operation)


# Ports for the servers tests start: below the kernel's ephemeral range (32768 and up, where every
# outgoing connection's own port and every bind to port 0 land), in a block of 2,000 of each pytest
# process's own. A port asked of the kernel (bind to 0, then closed) can be handed out again before the
# server binds it: to the other pytest-xdist process's server, or as an outgoing connection's port.
# CI once sent the test's plain-HTTP /metrics request to the other process's TLS port that way.
# Blocks from 20000 to 29999 (the cluster's own ports start at 31000, deploy/README.md): the run
# without pytest-xdist has the first, pytest-xdist's processes gw0, gw1, ... the ones after it.
_PORT_BLOCK = 2000
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
_PORT_BASE = 20000 + _PORT_BLOCK * ((int(_worker.removeprefix("gw")) + 1 if _worker else 0) % 5)
_next_port = iter(range(_PORT_BASE, _PORT_BASE + _PORT_BLOCK))


def free_port() -> int:
    """A loopback port nothing listens on, not handed out before by this process."""
    for port in _next_port:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # held by something else on this machine (or a closed test server's TIME_WAIT)
            return port
    raise RuntimeError(f"the ports {_PORT_BASE}-{_PORT_BASE + _PORT_BLOCK - 1} are used up")


@dataclass
class Server:
    base_url: str
    tls_dir: Path
    db_url: str
    process: subprocess.Popen
    log_path: Path
    clients: dict = field(default_factory=dict)
    ops_url: str = ""

    def session(self, client: str = "region", headers: dict | None = None) -> requests.Session:
        s = requests.Session()
        s.headers.update(headers or {})
        s.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override verify below
        s.verify = str(self.tls_dir / "ca.pem")
        s.cert = (str(self.tls_dir / "clients" / f"{client}.pem"), str(self.tls_dir / "clients" / f"{client}-key.pem"))
        return s

    def zeep(
        self, contract: str, client: str = "region", headers: dict | None = None
    ) -> tuple[zeep.proxy.ServiceProxy, ValidatingPlugin]:
        """A zeep client generated from the project's own wsdl/ file, pointed at this server."""
        key = (contract, client, tuple(sorted((headers or {}).items())))
        if key not in self.clients:
            plugin = ValidatingPlugin(contract)
            zc = zeep.Client(
                str(REPO / "wsdl" / f"{contract}Interaction_1.0_RIVTABP21.wsdl"),
                transport=zeep.Transport(session=self.session(client, headers)),
                plugins=[plugin],
            )
            service = zc.create_service(
                f"{{{WSDL_NS[contract]}}}{contract}ResponderBinding", f"{self.base_url}/{contract}/1/rivtabp21"
            )
            self.clients[key] = (service, plugin, zc)
        service, plugin, _ = self.clients[key]
        return service, plugin

    def post(self, contract: str, body: bytes | str, *, client: str = "region", headers=None) -> requests.Response:
        h = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{RESPONDER[contract]}:{contract}"'}
        h.update(headers or {})
        data = body.encode() if isinstance(body, str) else body
        response = self.session(client).post(
            f"{self.base_url}/{contract}/1/rivtabp21", data=data, headers=h, timeout=30
        )
        if response.headers.get("Content-Type", "").startswith("text/xml") and response.content:
            assert_valid_response(contract, etree.fromstring(response.content))
        return response


def envelope(contract: str, inner: str = "", *, logical_address: str | None = LOGICAL_ADDRESS) -> str:
    header = (
        '<s:Header><la:LogicalAddress xmlns:la="urn:riv:itintegration:registry:1">'
        f"{logical_address}</la:LogicalAddress></s:Header>"
        if logical_address is not None
        else ""
    )
    return (
        f'<s:Envelope xmlns:s="{SOAP}">{header}<s:Body>'
        f'<r:{contract} xmlns:r="{RESPONDER[contract]}" xmlns:c="{FMB_NS}:1">{inner}</r:{contract}>'
        f"</s:Body></s:Envelope>"
    )


def fault_of(response: requests.Response) -> tuple[str, str]:
    assert response.status_code == 500, (response.status_code, response.text[:500])
    root = etree.fromstring(response.content)
    fault = root.find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    assert fault is not None, response.text[:500]
    code = fault.findtext("faultcode")
    string = fault.findtext("faultstring")
    assert "Traceback" not in response.text and 'File "' not in response.text
    return code.split(":")[-1], string


READY_PATH = {
    "fmb": "/GetVersions/1/rivtabp21",
    "fmb-public": "/fmb/openapi.json",
    "hosp": "/GetHealthcareProfessional/1/rivtabp21",
}


def start_server(
    db_url: str,
    tls_dir: Path,
    log_path: Path,
    *,
    workers: int = 2,
    extra: list[str] | None = None,
    service: str = "fmb",
) -> Server:
    port = free_port()
    ops_port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["NTJP_PLATFORM_HSAIDS"] = "SE165565594230-DEV1"  # the dev platform certificate (clients/ntjp.pem)
    env.setdefault("NTJP_PROBE_SECONDS", "0")  # no uptime probes (they are calls too) unless a test asks
    env.setdefault("NTJP_DRAIN_SECONDS", "0")  # stopping a test server need not wait for a load balancer
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ntjp_producer",
            "serve",
            "--service",
            service,
            "--db",
            db_url,
            "--tls-dir",
            str(tls_dir),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--logical-address",
            LOGICAL_ADDRESS,
            "--ops-bind",
            f"127.0.0.1:{ops_port}",
            *(extra or []),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    scheme = "http" if service == "fmb-public" else "https"
    server = Server(f"{scheme}://127.0.0.1:{port}", tls_dir, db_url, process, log_path, ops_url=f"http://127.0.0.1:{ops_port}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()[-3000:]}")
        try:
            if server.session().get(f"{server.base_url}{READY_PATH[service]}", timeout=2).status_code == 200:
                if "operations listener not started" in log_path.read_text():
                    # The producer serves on without it; a test would then ask whatever holds that port.
                    stop_server(server)
                    raise RuntimeError(f"operations listener not started: {log_path.read_text()[-3000:]}")
                return server
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server did not start: {log_path.read_text()[-3000:]}")


def worker_pids(server: Server, count: int = 2, timeout: float = 30) -> list[int]:
    """The gunicorn master's worker processes, once ``count`` of them run."""
    deadline = time.monotonic() + timeout
    while True:
        path = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
        pids = [int(p) for p in path.read_text().split()]
        if len(pids) >= count or time.monotonic() > deadline:
            assert len(pids) >= count, f"{len(pids)} workers, not {count}"
            return sorted(pids)
        time.sleep(0.1)


@contextlib.contextmanager
def only_worker(server: Server, pid: int):
    """Every other worker stopped (SIGSTOP) meanwhile, so each new connection goes to ``pid``: which
    worker answers is then the test's choice, not the kernel's. Stopped for seconds, well inside
    gunicorn's heartbeat timeout."""
    others = [p for p in worker_pids(server) if p != pid]
    for other in others:
        os.kill(other, signal.SIGSTOP)
    try:
        yield
    finally:
        for other in others:
            os.kill(other, signal.SIGCONT)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()


def until(condition, seconds: float = 10.0):
    """``condition()``'s first true value within ``seconds``, else its last (false) one."""
    deadline = time.monotonic() + seconds
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return value


def workers_of(server: Server) -> set[int]:
    """The pids of the server's gunicorn workers (forked from the master: its command line), not of
    its other children (the prober)."""
    children = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True).stdout
    found = set()
    for pid in children.split():
        with contextlib.suppress(OSError):  # one that has just left
            if b"\0serve\0" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(int(pid))
    return found


def booted_workers(server: Server, count: int = 2, seconds: float = 15) -> set[int]:
    """The worker pids once ``count`` are up (a server answers as soon as its first one is), or
    those there are after ``seconds``."""
    return until(lambda: len(found := workers_of(server)) >= count and found, seconds) or workers_of(server)


def new_database(tmp_path: Path) -> tuple[str, callable]:
    """A fresh, empty database: a new PostgreSQL database when NTJP_TEST_DATABASE_URL is set."""
    pg = os.environ.get("NTJP_TEST_DATABASE_URL")
    if not pg:
        return f"sqlite:///{tmp_path / f'ntjp-{uuid.uuid4().hex[:8]}.db'}", lambda: None
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"ntjp_test_{uuid.uuid4().hex[:12]}"
    admin = make_url(pg).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        from ntjp_producer.storage.db import engine_for

        url = admin.set(database=name).render_as_string(hide_password=False)
        engine_for(url).dispose()
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return admin.set(database=name).render_as_string(hide_password=False), drop


def metrics_once(ops_url: str, name: str, at_least: float, seconds: float = 10, **labels: str) -> str:
    """The operations listener's /metrics once ``name`` (with ``labels``) sums to ``at_least``, or after
    ``seconds``: a call is measured when gunicorn closes its body, just after the client has read it,
    so a scrape right after an answer may not count that call yet (the caller asserts on what it gets)."""
    deadline = time.monotonic() + seconds
    while True:
        text = requests.get(f"{ops_url}/metrics", timeout=10).text
        if metric_sum(text, name, **labels) >= at_least or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of a Prometheus metric's samples whose labels include all those given."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total
