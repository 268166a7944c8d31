"""The floor: this producer's own server stack answering one canned body.

Same gunicorn worker class, thread count, TLS context and client-certificate rules as ``serve``, and
a WSGI application that only returns the bytes it was given (captured from the real producer for
the same request). What the producer does beyond this is its own cost; the benchmark reports
producer/floor ratios measured in one run.

    python bench/floor.py --tls-dir DIR --bind 127.0.0.1:PORT --body FILE [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from ntjp_producer.settings import Settings  # noqa: E402
from ntjp_producer.transport.server import ProducerServer  # noqa: E402


def canned(body: bytes):
    headers = [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))]

    def app(environ, start_response):
        stream = environ["wsgi.input"]
        while stream.read(65536):  # read the request, as the producer does
            pass
        start_response("200 OK", headers)
        return [body]

    return app


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tls-dir", required=True)
    ap.add_argument("--bind", required=True)
    ap.add_argument("--body", required=True, help="the canned response body")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    settings = Settings(tls_dir=args.tls_dir, bind=args.bind, workers=args.workers, ops_bind="", measure=False)
    body = Path(args.body).read_bytes()
    ProducerServer(settings, lambda _settings: canned(body)).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
