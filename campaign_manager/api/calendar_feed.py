"""The campaign calendar as an iCalendar feed a calendar app subscribes to.

Calendar apps cannot send an Authorization header, so the credential is a calendar-feed
token in the URL (`?token=cmcal_...`), made and revoked under Settings → Calendar feeds.
It opens this feed and nothing else; core/feed_tokens.py says why it is not an API token.
"""

from __future__ import annotations

import marshmallow as ma

from campaign_manager.api.blueprint import ApiSchema, Blueprint, id_field
from campaign_manager.api.problems import ApiProblem
from campaign_manager.core.db import utcnow
from campaign_manager.core.feed_tokens import find_usable_feed_token
from campaign_manager.extensions import db
from campaign_manager.web.authz import public
from campaign_manager.web.calendar import ics_response

blp = Blueprint(
    "api_calendar_feed",
    __name__,
    url_prefix="/api/v1/calendar",
    description="The campaign calendar as an ICS feed, opened by a token in the URL.",
)


class FeedQuerySchema(ApiSchema):
    token = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=200),
        metadata={"description": "a calendar-feed token from Settings → Calendar feeds"},
    )
    campaign = id_field(metadata={"description": "only this campaign's steps"})
    # Named as the query parameters are; `from` is a Python keyword.
    from_ = ma.fields.Date(
        data_key="from", metadata={"description": "first day (default: a month ago)"}
    )
    to = ma.fields.Date(metadata={"description": "last day (default: a year ahead)"})


@blp.route("/feed.ics", methods=["GET"])
# Open to anyone holding a feed token: the view checks it itself (no bearer, no cookie).
@public
@blp.arguments(FeedQuerySchema, location="query")
@blp.response(200, description="text/calendar (RFC 5545)")
@blp.doc(security=[])
def feed(args: dict):
    """Every step of every campaign as calendar events (read-only)."""
    token = find_usable_feed_token(db.session, args["token"])
    if token is None:
        db.session.rollback()
        raise ApiProblem(
            401,
            "The calendar-feed token is unknown or revoked. Make a new feed under "
            "Settings → Calendar feeds and subscribe to its address.",
        )
    token.last_used_at = utcnow()
    db.session.commit()
    return ics_response()
