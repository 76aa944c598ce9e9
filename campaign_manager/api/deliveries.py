"""Deliveries: the outbox, read-only. One row per message per recipient or target, with its
status, attempts and the provider's id; filter by campaign, step, status, channel, contact.

Retrying and resolving uncertain deliveries stay in the UI, where a person checks first.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from sqlalchemy.orm import selectinload

from campaign_manager.api.auth import api_access
from campaign_manager.api.blueprint import Blueprint, id_field
from campaign_manager.api.pagination import PageQuerySchema, SortOrders, keyset_page, page_schema
from campaign_manager.api.problems import ApiProblem
from campaign_manager.api.responses import json_response, page_response
from campaign_manager.campaigns.deliveries import DeliveryFilter, filtered_deliveries
from campaign_manager.campaigns.models import Delivery, DeliveryStatus
from campaign_manager.channels.base import ChannelKind
from campaign_manager.extensions import db
from campaign_manager.web.authz import STAFF

blp = Blueprint(
    "api_deliveries",
    __name__,
    url_prefix="/api/v1/deliveries",
    description="The outbox, read-only: what was sent, to whom, and how it went.",
)


class DeliverySchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    campaign_id = ma.fields.Integer(required=True)
    step_id = ma.fields.Integer(required=True)
    occurrence = ma.fields.String(metadata={"description": "which run of the step"})
    recipient_key = ma.fields.String(metadata={"description": "an address, contact or target"})
    contact_id = ma.fields.Integer(allow_none=True)
    channel_account_id = ma.fields.Integer()
    channel_kind = ma.fields.String(metadata={"description": "email, social, web or print"})
    status = ma.fields.Enum(DeliveryStatus, by_value=True, required=True)
    reason = ma.fields.String(metadata={"description": "why suppressed, skipped, failed..."})
    creative_version_id = ma.fields.Integer(allow_none=True)
    variant_key = ma.fields.String()
    segment_slug = ma.fields.String()
    attempts = ma.fields.Integer()
    next_attempt_at = ma.fields.DateTime(allow_none=True)
    external_id = ma.fields.String(metadata={"description": "the provider's message or post id"})
    error = ma.fields.String()
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()
    sent_at = ma.fields.DateTime(allow_none=True)


class DeliveryListQuery(PageQuerySchema):
    campaign = id_field(metadata={"description": "a campaign id"})
    step = id_field(metadata={"description": "a step id"})
    status = ma.fields.Enum(DeliveryStatus, by_value=True)
    channel = ma.fields.Enum(ChannelKind, by_value=True)
    contact = id_field(metadata={"description": "a contact id"})
    updated_since = ma.fields.AwareDateTime(metadata={"description": "last activity at or after"})
    updated_before = ma.fields.AwareDateTime(metadata={"description": "last activity before"})


DELIVERY_SORTS = SortOrders(Delivery.id, {"id": Delivery.id}, default="-id")


def represent(delivery: Delivery) -> dict[str, Any]:
    return {
        **{
            name: getattr(delivery, name)
            for name in DeliverySchema().fields
            if hasattr(Delivery, name)
        },
        "campaign_id": delivery.step.campaign_id,
        "channel_kind": delivery.step.channel_kind,
    }


@blp.route("", methods=["GET"])
@api_access(*STAFF)
@blp.arguments(DeliveryListQuery, location="query")
@blp.response(200, page_schema(DeliverySchema, "DeliveryPage"))
def list_deliveries(args: dict[str, Any]):
    """Deliveries, newest first; pages are stable while new deliveries are made."""
    filters = DeliveryFilter(
        campaign_id=args.get("campaign"),
        step_id=args.get("step"),
        status=args.get("status"),
        channel_kind=args["channel"].value if args.get("channel") else "",
        contact_id=args.get("contact"),
        since=args.get("updated_since"),
        until=args.get("updated_before"),
    )
    query = filtered_deliveries(filters).options(selectinload(Delivery.step))
    page = keyset_page(db.session, query, DELIVERY_SORTS, args)
    page = type(page)([represent(d) for d in page.items], page.next_cursor)
    return page_response(DeliverySchema(), page)


@blp.route("/<big_id:delivery_id>", methods=["GET"])
@api_access(*STAFF)
@blp.response(200, DeliverySchema)
def get_delivery(delivery_id: int):
    """One delivery."""
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None:
        raise ApiProblem(404, f"There is no delivery #{delivery_id}.")
    return json_response(DeliverySchema(), represent(delivery))
