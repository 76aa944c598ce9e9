"""The public endpoint providers post bounce and complaint events to.

One URL per channel account, /webhooks/<account id>/<secret token>, shown on the account's
page. The token authenticates providers that do not sign (Postmark); the adapter checks the
signature of those that do (SendGrid, Mailgun). No CSRF token: the callers are servers.
Answers are short JSON, and a wrong address is a bare 404, so nothing is learnt by probing.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, request

from campaign_manager.channels.base import WebhookRejected, WebhookRequest
from campaign_manager.channels.bounces import UnknownWebhook, find_webhook_account, receive_webhook
from campaign_manager.channels.registry import AdapterNotAvailable
from campaign_manager.core.crypto import CredentialsUnreadable
from campaign_manager.core.db import utcnow
from campaign_manager.extensions import db
from campaign_manager.web.authz import public

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)

# Provider event batches are small; anything bigger is not a webhook.
MAX_BODY_BYTES = 2 * 1024 * 1024


@bp.route("/webhooks/<int:account_id>/<token>", methods=["POST"])
@public
def receive(account_id: int, token: str):
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return {"error": "the body is too large"}, 413
    webhook = WebhookRequest(
        headers={name.lower(): value for name, value in request.headers.items()},
        body=request.get_data(cache=False),
        received_at=utcnow(),
    )
    try:
        account = find_webhook_account(db.session, account_id, token)
        outcome = receive_webhook(
            db.session,
            account,
            webhook,
            instance_path=current_app.extensions["settings"].instance_dir,
        )
    except UnknownWebhook:
        return {"error": "not found"}, 404
    except WebhookRejected as exc:
        log.warning("webhook for channel account %s refused: %s", account_id, exc)
        return {"error": str(exc)}, exc.status
    except (AdapterNotAvailable, CredentialsUnreadable) as exc:
        # Our fault, not the provider's: 503 makes it try again later, when fixed.
        log.error("webhook for channel account %s cannot be handled: %s", account_id, exc)
        return {"error": "temporarily unavailable"}, 503
    db.session.commit()
    return {
        "received": outcome.received,
        "stored": len(outcome.stored),
        "duplicates": outcome.duplicates,
    }, 200
