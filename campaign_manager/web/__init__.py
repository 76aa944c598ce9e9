"""The server-rendered web UI: one blueprint per area."""

from __future__ import annotations

from flask import Flask, Response

from campaign_manager.web.authz import can


def register_web(app: Flask) -> None:
    from campaign_manager.extensions import csrf
    from campaign_manager.web import (
        audiences,
        auth,
        calendar,
        campaigns,
        channels,
        creatives,
        deliveries,
        errors,
        main,
        outgoing_webhooks,
        print_jobs,
        settings,
        tracking,
        unsubscribe,
        webhooks,
    )

    app.register_blueprint(auth.bp)
    app.register_blueprint(creatives.bp)
    app.register_blueprint(creatives.public_bp)
    app.register_blueprint(main.bp)
    app.register_blueprint(settings.bp)
    app.register_blueprint(outgoing_webhooks.bp)
    app.register_blueprint(channels.bp)
    app.register_blueprint(campaigns.bp)
    app.register_blueprint(deliveries.bp)
    app.register_blueprint(calendar.bp)
    app.register_blueprint(tracking.bp)
    app.register_blueprint(print_jobs.bp)
    # Providers post webhooks server to server: they carry signatures, not CSRF tokens.
    csrf.exempt(webhooks.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(audiences.bp)
    app.register_blueprint(unsubscribe.bp)
    errors.register_error_handlers(app)
    app.before_request(errors.refuse_nul_characters)
    auth.init_login(app)
    app.after_request(_security_headers)
    app.jinja_env.globals["nav_items"] = main.nav_items
    app.jinja_env.globals["can"] = can
    app.jinja_env.globals["reconnect_alert"] = channels.reconnect_alert
    app.jinja_env.globals["organization_name"] = app.extensions["settings"].app.organization_name


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'self'",
    )
    return response
