"""The application factory: the one place that wires settings, database, extensions and views."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask

from campaign_manager.core.config import Settings, load_settings
from campaign_manager.core.crypto import CredentialCipher, install_credential_cipher
from campaign_manager.core.db import Database
from campaign_manager.core.security import TokenSigner
from campaign_manager.core.storage import LocalStorage
from campaign_manager.extensions import csrf, db, login_manager
from campaign_manager.web.authz import check_every_view_declares_access


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app.

    `config` is either ready `Settings` or a mapping of overrides by section, applied on top
    of the config file and environment: ``create_app({"database": {"url": "sqlite://"}})``.
    """
    settings = config if isinstance(config, Settings) else load_settings(overrides=config)
    settings.instance_dir.mkdir(parents=True, exist_ok=True)

    app = Flask(
        __name__,
        instance_path=str(settings.instance_dir),
        template_folder="web/templates",
        static_folder="web/static",
    )
    app.config.update(
        SECRET_KEY=settings.app.secret_key,
        SESSION_COOKIE_NAME="cm_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=settings.cookie_secure,
        REMEMBER_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.security.session_lifetime_hours),
        # Uploads are checked for size by the services too; this stops giant bodies early.
        MAX_CONTENT_LENGTH=256 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=settings.is_production,
    )
    app.extensions["settings"] = settings
    app.extensions["token_signer"] = TokenSigner(settings.app.secret_key)
    install_credential_cipher(CredentialCipher.from_settings(settings))
    logging.basicConfig(level=settings.app.log_level.upper())
    # Migration chatter is noise outside `db upgrade`; real problems still surface.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # WeasyPrint reports every layout step at INFO; its warnings are what matter.
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    logging.getLogger("pikepdf._core").setLevel(logging.WARNING)

    storage = LocalStorage(settings.files_dir)
    app.extensions["storage"] = storage
    database = Database(
        settings.database_url,
        echo=settings.database.echo,
        pool_size=settings.database.pool_size,
        storage=storage,
    )
    db.init_app(app, database)
    csrf.init_app(app)
    login_manager.init_app(app)

    from campaign_manager.web import register_web

    register_web(app)
    from campaign_manager.api import register_api

    register_api(app)
    check_every_view_declares_access(app)
    return app


def settings_of(app: Flask) -> Settings:
    return app.extensions["settings"]
