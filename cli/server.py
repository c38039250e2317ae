"""Run the app under gunicorn without a separate config file."""
from __future__ import annotations

from gunicorn.app.base import BaseApplication


class _Server(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        # Each worker builds its own app, so no database connection crosses a fork.
        from scimsvc import create_app

        return create_app()


def run(host: str, port: int, workers: int, access_log: bool = False) -> None:
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "sync",
        "timeout": 60,
        "graceful_timeout": 10,
        "keepalive": 5,
        "errorlog": "-",
    }
    if access_log:
        options["accesslog"] = "-"
    _Server(options).run()
