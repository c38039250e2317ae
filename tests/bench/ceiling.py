"""The framework's ceiling: a minimal Flask app returning a constant user, served like scimsvc.

``GET /scim/v2/Users/<id>`` answers with one fixed SCIM User of about the
size scimsvc returns (``BENCH_CEILING_SIZE`` bytes), with no database, no
auth and no serialization work. Nothing a real service does can be faster
under the same server, so each scimsvc phase is reported as a ratio to it.
It runs through ``cli.server.run`` itself, so the gunicorn settings are
exactly those of ``scimsvc serve``.
"""
from __future__ import annotations

import argparse
import json
import os

from flask import Flask, Response

from tests.bench.bodies import create_body


def constant_user(size: int) -> bytes:
    """A SCIM User resource as scimsvc renders it, padded or trimmed to about ``size`` bytes."""
    resource = {"schemas": create_body(1)["schemas"], "id": "2819c223-7f76-453a-919d-413861904646",
                **{k: v for k, v in create_body(1).items() if k not in ("schemas", "meta")}}
    resource["meta"] = {"resourceType": "User", "created": "2026-01-01T00:00:00.000Z",
                        "lastModified": "2026-01-01T00:00:00.000Z",
                        "location": "http://127.0.0.1/scim/v2/Users/2819c223-7f76-453a-919d-413861904646",
                        "version": 'W/"1"'}
    body = json.dumps(resource, separators=(",", ":"))
    if len(body) < size:
        resource["nickName"] = "x" * (size - len(body) - len(',"nickName":""'))
        body = json.dumps(resource, separators=(",", ":"))
    return body.encode()


def create_ceiling_app(size: int) -> Flask:
    app = Flask(__name__)
    body = constant_user(size)

    @app.get("/scim/v2/Users/<scim_id>")
    def get_user(scim_id: str):
        return Response(body, mimetype="application/scim+json", headers={"ETag": 'W/"1"'})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from cli import server

    app = create_ceiling_app(int(os.environ.get("BENCH_CEILING_SIZE", "1200")))

    class Ceiling(server._Server):
        def load(self):
            return app

    # Serve through scimsvc's own runner so every gunicorn option is the same.
    server._Server = Ceiling
    server.run(host="127.0.0.1", port=args.port, workers=args.workers)


if __name__ == "__main__":
    main()
