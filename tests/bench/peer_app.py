"""python-scim's scim2-server as a WSGI app for gunicorn (imported only by the peer's own venv).

It is the app the ``scim2-server`` command builds: RFC 7643 schemas and
resource types, in-memory storage, one static bearer token
(``BENCH_PEER_TOKEN``). ``BENCH_PEER_PRELOAD`` users (the benchmark's own
bodies) are created through its storage before serving, the way the
harness seeds scimsvc through its service layer for large runs.
"""
from __future__ import annotations

import os
import sys

from scim2_models import ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)

from bodies import create_body  # noqa: E402  (this folder is on PYTHONPATH)


def build():
    config = load_default_service_provider_config()
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    provider = ScimProvider.from_discovery(load_default_schemas().values(),
                                           load_default_resource_types().values(), config=config)
    service = ScimService(provider, secret=os.environ.get("SCIM2_SERVER_SECRET", "bench-secret"))
    storage = InMemoryStorage()
    application = BearerTokenApplication(storage, provider, service=service,
                                         bearer_tokens=[os.environ["BENCH_PEER_TOKEN"]])
    preload(application, storage, int(os.environ.get("BENCH_PEER_PRELOAD", "0")))
    return application


def preload(application, storage, count: int) -> None:
    """Create ``count`` users through the peer's own storage (bodies validated by its models)."""
    if not count:
        return
    user_type = next(rt for rt in load_default_resource_types().values() if rt.name == "User")
    model = application.provider.model_for(user_type) if hasattr(application.provider, "model_for") \
        else None
    if model is None:
        from scim2_models import EnterpriseUser, User

        model = User[EnterpriseUser]
    for i in range(count):
        body = create_body(i)
        body.pop("meta", None)
        body.pop("groups", None)
        storage.create(user_type, model.model_validate(body))
        if i and i % 50000 == 0:
            print(f"peer preload: {i} users", file=sys.stderr, flush=True)


app = build()
