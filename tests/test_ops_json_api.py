"""Webcert reads FMB through the JSON API: its calls are measured like every RIV-TA call, by route
and outcome, and appear in the metrics, the SLA report and the status page, counted exactly."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from zoneinfo import ZoneInfo

import pytest
import requests

from ntjp_producer.fmb.importer import import_release
from ntjp_producer.storage import db
from tests.helpers import SAMPLE, metric_sum, new_database, start_server, stop_server

pytestmark = pytest.mark.slow

OK, NOT_FOUND, BAD = 12, 3, 2


def _counted(url: str, contract: str) -> int:
    from sqlalchemy import func, select

    from ntjp_producer.ops.models import ops_minute

    with db.engine_for(url).connect() as conn:
        q = select(func.coalesce(func.sum(ops_minute.c.count), 0)).where(ops_minute.c.contract == contract)
        return conn.execute(q).scalar_one()


def test_json_api_calls_are_in_metrics_report_and_page(tls_dir, tmp_path):
    url, drop = new_database(tmp_path)
    db.migrate(url)
    import_release(db.session_factory(url), SAMPLE)
    config = tmp_path / "producer.toml"
    config.write_text("[producer]\nops_flush_seconds = 1\n")
    server = start_server(url, tls_dir, tmp_path / "server.log", extra=["--config", str(config)])
    try:
        day = dt.datetime.now(ZoneInfo("Europe/Stockholm")).date()
        session = server.session()
        for _ in range(OK):
            assert session.get(f"{server.base_url}/fmb/typfall?inlinehtmlmarkup=true", timeout=30).status_code == 200
        for _ in range(NOT_FOUND):
            assert session.get(f"{server.base_url}/fmb/typfall/no-such-id", timeout=30).status_code == 404
        for _ in range(BAD):
            assert session.get(f"{server.base_url}/fmb/typfall?diagnoskod=", timeout=30).status_code == 400
        total = OK + NOT_FOUND + BAD
        deadline = time.monotonic() + 30
        while _counted(url, "fmb/typfall") < total and time.monotonic() < deadline:
            time.sleep(0.2)

        metrics = requests.get(f"{server.ops_url}/metrics", timeout=10).text
        assert metric_sum(metrics, "ntjp_calls_total", service="fmb", contract="fmb/typfall") == total
        assert metric_sum(metrics, "ntjp_calls_total", contract="fmb/typfall", outcome="ok") == OK
        faults = metric_sum(metrics, "ntjp_calls_total", contract="fmb/typfall", outcome="client_fault")
        assert faults == NOT_FOUND + BAD
        assert metric_sum(metrics, "ntjp_call_duration_seconds_count", contract="fmb/typfall") == total

        out = subprocess.run(
            [sys.executable, "-m", "ntjp_producer", "sla", "report", "--service", "fmb", "--from", str(day),
             "--to", str(day), "--format", "json", "--db", url, "--config", str(config)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        (line,) = [d for d in json.loads(out.stdout)["days"] if d["contract"] == "fmb/typfall"]
        assert line["calls"] == total and line["outcomes"] == {"ok": OK, "client_fault": NOT_FOUND + BAD}

        page = requests.get(f"{server.ops_url}/", timeout=10).text
        assert "fmb/typfall" in page and "fmb/forsakringsmedicinskdiagnosinformation" in page
    finally:
        stop_server(server)
        drop()
