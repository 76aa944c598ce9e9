"""Flask extensions, created unbound here and bound to an app in create_app (init_app)."""

from __future__ import annotations

from flask import Flask, current_app, g
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import Session

from campaign_manager.core.db import Database
from campaign_manager.core.security import TokenSigner

csrf = CSRFProtect()
login_manager = LoginManager()


class FlaskDatabase:
    """Gives each request one SQLAlchemy session, rolled back and closed at teardown.

    Views commit explicitly once their one operation succeeded; anything not committed
    when the request ends is rolled back, so a failed request leaves nothing half-written.
    """

    def init_app(self, app: Flask, database: Database) -> None:
        app.extensions["database"] = database
        app.teardown_appcontext(self._close_session)

    @property
    def database(self) -> Database:
        return current_app.extensions["database"]

    @property
    def session(self) -> Session:
        if "db_session" not in g:
            g.db_session = self.database.session()
        return g.db_session

    @staticmethod
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()


db = FlaskDatabase()


def token_signer() -> TokenSigner:
    return current_app.extensions["token_signer"]
