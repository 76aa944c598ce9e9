"""Public tracking endpoints: the click redirect `/c/<token>` and the open pixel
`/o/<token>.gif`. Only links we signed are followed; anything else is a 404."""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect

from campaign_manager.campaigns.tracking import PIXEL_GIF, record_click, record_open
from campaign_manager.extensions import db, token_signer
from campaign_manager.web.authz import public

bp = Blueprint("tracking", __name__)


@bp.route("/c/<token>")
@public
def click(token: str):
    target = record_click(db.session, token_signer(), token)
    if target is None:
        abort(404)
    db.session.commit()
    response = redirect(target, code=302)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/o/<token>.gif")
@public
def open_pixel(token: str):
    if not record_open(db.session, token_signer(), token):
        abort(404)
    db.session.commit()
    response = Response(PIXEL_GIF, mimetype="image/gif")
    # Every open must reach us, not a cache.
    response.headers["Cache-Control"] = "no-store, max-age=0"
    return response
