"""`ntjp-producer fmb import URL`: a release fetched from an open-API base URL, here this producer's
own fmb-public listener, with conditional GET, retries and the same all-or-nothing import."""

from __future__ import annotations

import functools
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ntjp_producer.fmb.models import DIAGNOSINFORMATION, TYPFALL
from ntjp_producer.fmb.services import FmbService
from ntjp_producer.storage import db
from tests.helpers import LATEST, new_database, start_server, stop_server

pytestmark = pytest.mark.slow


def _import(source: str, url: str, state: Path, attempts: int = 3) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ntjp_producer", "fmb", "import", source, "--db", url],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "NTJP_FMB_SOURCE_STATE": str(state), "NTJP_FMB_FETCH_ATTEMPTS": str(attempts)},
    )  # fmt: skip


def _contents(url: str) -> dict:
    fmb = FmbService(db.session_factory(url))
    return {kind: {d.id: d.attributes for d in fmb.dokument(kind, aven_ej_aktiva=True).dokument}
            for kind in (TYPFALL, DIAGNOSINFORMATION)}  # fmt: skip


def test_import_from_the_open_api_of_another_producer(latest_db, tls_dir, tmp_path):
    source = start_server(latest_db, tls_dir, tmp_path / "public.log", service="fmb-public")
    try:
        url, drop = new_database(tmp_path)
        state = tmp_path / "state" / "fmb-source.json"
        first = _import(f"{source.base_url}/fmb", url, state)
        assert first.returncode == 0, first.stderr
        assert "imported FMB release" in first.stdout
        got = _contents(url)
        assert {k: len(v) for k, v in got.items()} == {TYPFALL: 439, DIAGNOSINFORMATION: 116}
        assert got == _contents(latest_db), "the texts arrive as published, markup and all"
        assert json.loads(state.read_text()), "the validators are kept for the next fetch"

        again = _import(f"{source.base_url}/fmb", url, state)
        assert again.returncode == 0 and "not modified" in again.stdout, again.stdout + again.stderr
        drop()
    finally:
        stop_server(source)


class _Flaky(http.server.BaseHTTPRequestHandler):
    """503 with Retry-After for the first two requests, then the release folder's files."""

    def do_GET(self):  # http.server's name
        server = self.server
        server.requests += 1
        if server.requests <= server.failures:
            self.send_response(503)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        name = self.path.split("?")[0].rsplit("/", 1)[-1] + ".json"
        body = (server.folder / name).read_bytes()
        if server.truncate:
            body = body[: len(body) // 2]
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.api+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    httpd.requests, httpd.failures, httpd.folder, httpd.truncate = 0, 2, LATEST, False
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()


@pytest.mark.once  # HTTP behaviour; the import itself runs on both databases above
def test_retries_a_source_that_is_briefly_unavailable(flaky, tmp_path):
    url, drop = new_database(tmp_path)
    done = _import(f"http://127.0.0.1:{flaky.server_address[1]}/fmb", url, tmp_path / "state.json")
    assert done.returncode == 0, done.stderr
    assert flaky.requests == 4  # two 503s, then both collections
    assert {k: len(v) for k, v in _contents(url).items()} == {TYPFALL: 439, DIAGNOSINFORMATION: 116}
    drop()


def test_a_broken_download_changes_nothing(flaky, tmp_path, latest_db):
    flaky.failures, flaky.truncate = 0, True
    state = tmp_path / "state.json"
    done = _import(f"http://127.0.0.1:{flaky.server_address[1]}/fmb", latest_db, state)
    assert done.returncode == 3 and "import refused, nothing changed" in done.stderr
    assert "truncated JSON" in done.stderr
    assert {k: len(v) for k, v in _contents(latest_db).items()} == {TYPFALL: 439, DIAGNOSINFORMATION: 116}
    assert not state.exists(), "a refused release is fetched again next time"


@pytest.mark.once
def test_an_unreachable_or_wrong_source_fails_clearly(tmp_path):
    url, drop = new_database(tmp_path)
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = _import(f"http://127.0.0.1:{port}/fmb", url, tmp_path / "s.json", attempts=2)
    assert done.returncode == 3 and "connection refused, 2 attempts" in done.stderr and "Traceback" not in done.stderr
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        done = _import(f"http://127.0.0.1:{httpd.server_address[1]}/fmb", url, tmp_path / "s.json")
    finally:
        httpd.shutdown()
    assert done.returncode == 3 and "HTTP 404" in done.stderr
    drop()



class _Tagged(http.server.BaseHTTPRequestHandler):
    """The release folder's files with an ETag each; 304 when the client already has that one."""

    def do_GET(self):  # http.server's name
        name = self.path.split("?")[0].rsplit("/", 1)[-1] + ".json"
        tag = self.server.tags[name]
        self.server.asked.append((name, self.headers.get("If-None-Match")))
        if self.headers.get("If-None-Match") == tag:
            self.send_response(304)
            self.send_header("ETag", tag)
            self.end_headers()
            return
        body = (LATEST / name).read_bytes()
        self.send_response(200)
        self.send_header("ETag", tag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.once
def test_when_one_collection_changed_both_are_fetched_whole(tmp_path):
    from ntjp_producer.fmb import fetch

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Tagged)
    httpd.tags = {"typfall.json": '"t1"', "forsakringsmedicinskdiagnosinformation.json": '"d1"'}
    httpd.asked = []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/fmb"
    try:
        first = fetch.fetch_release(base, tmp_path / "a")
        assert first.folder is not None and sorted(p.name for p in first.folder.iterdir()) == sorted(httpd.tags)
        assert fetch.fetch_release(base, tmp_path / "b", validators=first.validators).folder is None
        httpd.tags["forsakringsmedicinskdiagnosinformation.json"] = '"d2"'  # a new diagnosinformation only
        httpd.asked.clear()
        third = fetch.fetch_release(base, tmp_path / "c", validators=first.validators)
        assert third.folder is not None and sorted(p.name for p in third.folder.iterdir()) == sorted(httpd.tags)
        assert ("typfall.json", None) in httpd.asked, "the unchanged collection is fetched again, whole"
        assert {v["etag"] for v in third.validators.values()} == {'"t1"', '"d2"'}
    finally:
        httpd.shutdown()
