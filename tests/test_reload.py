"""``systemctl reload`` (SIGHUP to the master): gunicorn starts new workers, which read the
certificates and the consumer registry again, and retires the old ones gracefully. A reload that a
new worker could not boot from is refused: before, every new worker failed on a broken registry and
gunicorn stopped the whole node, the old workers with it (and systemd's restarts then refused the
registry too: the node stayed down until someone fixed the file)."""

from __future__ import annotations

import os
import shutil
import signal

import pytest

from tests.helpers import booted_workers, fault_of, start_server, stop_server, until, workers_of
from tests.hosp_client import HospClient, persons, pnr_of
from tests.hosp_data import FULL

pytestmark = pytest.mark.slow

REGION = '"SE2321000016-DEV1" = { type = "public_provider", name = "Region Dev" }\n'


def test_a_reload_reads_the_registry_again_and_one_that_would_not_boot_is_refused(hosp_db, tls_dir, tmp_path):
    tls = tmp_path / "tls"
    shutil.copytree(tls_dir, tls)
    registry = tls / "consumers.toml"
    assert REGION in registry.read_text()
    log = tmp_path / "server.log"
    server = start_server(hosp_db, tls, log, service="hosp")
    hosp = HospClient(server)

    def reload() -> None:
        os.kill(server.process.pid, signal.SIGHUP)

    try:
        before = booted_workers(server)
        assert len(before) == 2, before
        assert [pnr_of(p) for p in persons(hosp.get(FULL))] == [FULL], "the region is a consumer"

        registry.write_text(registry.read_text().replace(REGION, ""))  # the region's agreement ended
        reload()
        after = until(lambda: not (found := workers_of(server)) & before and len(found) == 2 and found, 20)
        assert after, "new workers"
        assert fault_of(hosp.get(FULL)) == ("Client", "Access denied"), "the new workers read the registry"
        assert [pnr_of(p) for p in persons(hosp.get(FULL, client="ivo"))] == [FULL]

        registry.write_text(registry.read_text() + "\n[[consumers.broken\n")  # a typo while editing
        reload()
        assert until(lambda: "reload_refused" in log.read_text(), 10), "the refusal is logged"
        assert server.process.poll() is None, "the node is up"
        assert workers_of(server) == after, "the same workers serve on"
        assert [pnr_of(p) for p in persons(hosp.get(FULL, client="ivo"))] == [FULL]
        assert fault_of(hosp.get(FULL)) == ("Client", "Access denied"), "with the registry they had"
    finally:
        stop_server(server)
    line = next(x for x in log.read_text().splitlines() if "reload_refused" in x)
    assert "consumers.toml" in line and "Traceback" not in log.read_text()
