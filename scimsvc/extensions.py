"""The Flask extensions scimsvc uses, created once and bound in ``create_app``."""
from __future__ import annotations

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


def init_db(app: Flask) -> None:
    """Bind ``db`` to ``app`` and apply the per-database engine settings."""
    from . import dialect

    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **dialect.engine_options(app.config["SQLALCHEMY_DATABASE_URI"], app.config),
        **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
    }
    db.init_app(app)
    with app.app_context():
        dialect.configure_engine(db.engine, app.config)
