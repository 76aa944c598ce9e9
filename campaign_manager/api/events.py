"""Events: what happened after sending (sent, opens, clicks, bounces, complaints,
unsubscribes, failures), read-only. Campaign totals are in /campaigns/{id}/report."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from sqlalchemy import select

from campaign_manager.api.auth import api_access
from campaign_manager.api.blueprint import Blueprint, id_field
from campaign_manager.api.pagination import PageQuerySchema, SortOrders, keyset_page, page_schema
from campaign_manager.api.responses import page_response
from campaign_manager.campaigns.models import Event, EventKind
from campaign_manager.channels.base import ChannelKind
from campaign_manager.extensions import db
from campaign_manager.web.authz import STAFF

blp = Blueprint(
    "api_events",
    __name__,
    url_prefix="/api/v1/events",
    description="Opens, clicks, bounces, complaints and unsubscribes, read-only.",
)


class EventSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    kind = ma.fields.Enum(EventKind, by_value=True, required=True)
    delivery_id = ma.fields.Integer(allow_none=True)
    campaign_id = ma.fields.Integer(allow_none=True)
    step_id = ma.fields.Integer(allow_none=True)
    contact_id = ma.fields.Integer(allow_none=True)
    channel_kind = ma.fields.String()
    segment_slug = ma.fields.String()
    url = ma.fields.String(metadata={"description": "the link clicked"})
    occurred_at = ma.fields.DateTime(required=True)


class EventListQuery(PageQuerySchema):
    campaign = id_field()
    step = id_field()
    delivery = id_field(big=True)
    contact = id_field()
    kind = ma.fields.Enum(EventKind, by_value=True)
    channel = ma.fields.Enum(ChannelKind, by_value=True)
    since = ma.fields.AwareDateTime(metadata={"description": "occurred at or after"})


EVENT_SORTS = SortOrders(
    Event.id, {"id": Event.id, "occurred_at": Event.occurred_at}, default="-id"
)

_FILTERS = {
    "campaign": Event.campaign_id,
    "step": Event.step_id,
    "delivery": Event.delivery_id,
    "contact": Event.contact_id,
    "kind": Event.kind,
}


@blp.route("", methods=["GET"])
@api_access(*STAFF)
@blp.arguments(EventListQuery, location="query")
@blp.response(200, page_schema(EventSchema, "EventPage"))
def list_events(args: dict[str, Any]):
    """Events, newest first; filter by campaign, step, delivery, contact, kind, channel."""
    query = select(Event)
    for name, column in _FILTERS.items():
        if args.get(name) is not None:
            query = query.where(column == args[name])
    if args.get("channel"):
        query = query.where(Event.channel_kind == args["channel"].value)
    if args.get("since"):
        query = query.where(Event.occurred_at >= args["since"])
    return page_response(EventSchema(), keyset_page(db.session, query, EVENT_SORTS, args))
