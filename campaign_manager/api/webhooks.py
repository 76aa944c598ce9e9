"""Outgoing webhooks: subscriptions, their delivery log, redelivery and test events.

Admins only, as under Settings → Webhooks (web/outgoing_webhooks.py, which says why). The
views are thin over the same services (core/webhooks.py), so the rules for a receiver URL
and event types live in one place; their `WebhookError`s name the field they are about.

The signing secret is in the answer to a create and to a secret replacement, and nowhere
else: not in a GET, a list, an ETag, or a log. An Idempotency-Key replay of either answer
returns the same secret, kept encrypted meanwhile (`@idempotent(response_holds_secret=True)`).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, current_app, url_for
from sqlalchemy import select

from campaign_manager.api.auth import api_access, current_api_user
from campaign_manager.api.blueprint import ApiSchema, Blueprint
from campaign_manager.api.conditional import require_if_match
from campaign_manager.api.idempotency import idempotent
from campaign_manager.api.pagination import PageQuerySchema, SortOrders, keyset_page, page_schema
from campaign_manager.api.problems import ApiProblem, FieldError
from campaign_manager.api.responses import json_response, no_content, page_response
from campaign_manager.core.webhooks import (
    MAX_DESCRIPTION_LENGTH,
    MAX_URL_LENGTH,
    TEST_EVENT_TYPE,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookError,
    WebhookEventType,
    WebhookSubscription,
    create_subscription,
    delete_subscription,
    disable_subscription,
    enable_subscription,
    redeliver,
    replace_secret,
    update_subscription,
)
from campaign_manager.extensions import db
from campaign_manager.web.authz import ADMINS_ONLY
from schedulers.webhooks import WebhookSenderSettings, send_test_event

blp = Blueprint(
    "api_webhooks",
    __name__,
    url_prefix="/api/v1",
    description="Outgoing webhooks: where events are sent, what was sent, sending again. "
    "Admins only.",
)


# --- schemas -------------------------------------------------------------------------------

EVENT_TYPES = [t.value for t in WebhookEventType]
# What a delivery log holds: the event types, and the "send test event" event.
LOGGED_EVENT_TYPES = [*EVENT_TYPES, TEST_EVENT_TYPE]


class WebhookSubscriptionSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    url = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    event_types = ma.fields.List(ma.fields.String(metadata={"enum": EVENT_TYPES}), required=True)
    enabled = ma.fields.Boolean(required=True)
    consecutive_failures = ma.fields.Integer(
        required=True, metadata={"description": "deliveries in a row that ended failed"}
    )
    disabled_automatically = ma.fields.Boolean(
        required=True,
        metadata={"description": "turned off by the app after repeated failures"},
    )
    disabled_reason = ma.fields.String(required=True)
    disabled_at = ma.fields.DateTime(required=True, allow_none=True)
    created_at = ma.fields.DateTime(required=True)
    updated_at = ma.fields.DateTime(required=True)


class WebhookSubscriptionWithSecretSchema(WebhookSubscriptionSchema):
    secret = ma.fields.String(
        required=True,
        metadata={
            "description": "The signing secret. Shown in this answer only: keep it now. "
            "Replace it (POST .../secret) if it is lost."
        },
    )


class WebhookSubscriptionInSchema(ApiSchema):
    """What a client sets. The rules (https, known event types, at least one, lengths) are
    the service's, checked there for the API and the settings form alike."""

    url = ma.fields.String(
        required=True,
        metadata={
            "description": "https://, or http:// for localhost only",
            "maxLength": MAX_URL_LENGTH,
        },
    )
    event_types = ma.fields.List(
        ma.fields.String(metadata={"enum": EVENT_TYPES}),
        required=True,
        metadata={"description": "at least one", "minItems": 1},
    )
    description = ma.fields.String(load_default="", metadata={"maxLength": MAX_DESCRIPTION_LENGTH})


class WebhookSubscriptionPatchSchema(WebhookSubscriptionInSchema):
    """WebhookSubscriptionIn for PATCH: every field optional (used with partial=True); the
    fields not sent keep their values."""


class WebhookDeliverySchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    subscription_id = ma.fields.Integer(required=True)
    event_id = ma.fields.String(
        required=True, metadata={"description": "also the Idempotency-Key the receiver gets"}
    )
    event_type = ma.fields.String(
        required=True,
        metadata={"enum": LOGGED_EVENT_TYPES},
    )
    status = ma.fields.Enum(WebhookDeliveryStatus, by_value=True, required=True)
    attempts = ma.fields.Integer(required=True)
    next_attempt_at = ma.fields.DateTime(required=True)
    response_code = ma.fields.Integer(
        required=True, allow_none=True, metadata={"description": "the receiver's last status"}
    )
    error = ma.fields.String(required=True)
    redelivery_of_id = ma.fields.Integer(
        required=True, allow_none=True, metadata={"description": "the delivery this repeats"}
    )
    created_at = ma.fields.DateTime(required=True)
    delivered_at = ma.fields.DateTime(required=True, allow_none=True)
    payload = ma.fields.Dict(
        required=True, metadata={"description": "the JSON body sent on every attempt"}
    )


class WebhookDeliveryListQuery(PageQuerySchema):
    status = ma.fields.Enum(WebhookDeliveryStatus, by_value=True)
    event_type = ma.fields.String(
        validate=ma.validate.OneOf(LOGGED_EVENT_TYPES),
        metadata={"enum": LOGGED_EVENT_TYPES},
    )


class WebhookSubscriptionListQuery(PageQuerySchema):
    enabled = ma.fields.Boolean()


SUBSCRIPTION_SORTS = SortOrders(
    WebhookSubscription.id, {"id": WebhookSubscription.id}, default="id"
)
DELIVERY_SORTS = SortOrders(WebhookDelivery.id, {"id": WebhookDelivery.id}, default="-id")


# --- helpers -------------------------------------------------------------------------------


def _subscription_or_404(subscription_id: int, *, for_update: bool = False) -> WebhookSubscription:
    query = select(WebhookSubscription).where(WebhookSubscription.id == subscription_id)
    if for_update:
        query = query.with_for_update()
    subscription = db.session.scalar(query)
    if subscription is None:
        raise ApiProblem(404, f"There is no webhook subscription #{subscription_id}.")
    return subscription


def _delivery_or_404(webhook_delivery_id: int) -> WebhookDelivery:
    delivery = db.session.get(WebhookDelivery, webhook_delivery_id)
    if delivery is None:
        raise ApiProblem(404, f"There is no webhook delivery #{webhook_delivery_id}.")
    return delivery


def _subscription_response(subscription: WebhookSubscription) -> Response:
    return json_response(WebhookSubscriptionSchema(), subscription)


def _with_secret_response(
    subscription: WebhookSubscription, secret: str, *, status: int
) -> Response:
    location = url_for("api_webhooks.get_subscription", subscription_id=subscription.id)
    fields = WebhookSubscriptionSchema().fields
    body = {**{name: getattr(subscription, name) for name in fields}, "secret": secret}
    # No ETag: it would be a hash over the secret. GET the subscription for one.
    return json_response(
        WebhookSubscriptionWithSecretSchema(),
        body,
        status=status,
        etag=False,
        location=location if status == 201 else None,
    )


def _delivery_response(delivery: WebhookDelivery, status: int = 200) -> Response:
    location = (
        url_for("api_webhooks.get_delivery", webhook_delivery_id=delivery.id)
        if status == 201
        else None
    )
    return json_response(
        WebhookDeliverySchema(), delivery, status=status, etag=status == 200, location=location
    )


def _field_problem(exc: WebhookError) -> ApiProblem:
    return ApiProblem(422, str(exc), errors=[FieldError(exc.field, str(exc))])


# --- subscriptions -------------------------------------------------------------------------


@blp.route("/webhook-subscriptions", methods=["GET"])
@api_access(*ADMINS_ONLY)
@blp.arguments(WebhookSubscriptionListQuery, location="query")
@blp.response(200, page_schema(WebhookSubscriptionSchema, "WebhookSubscriptionPage"))
def list_subscriptions(args: dict[str, Any]):
    """List webhook subscriptions, oldest first; `enabled=false` finds the ones turned off."""
    query = select(WebhookSubscription)
    if "enabled" in args:
        query = query.where(WebhookSubscription.enabled.is_(args["enabled"]))
    page = keyset_page(db.session, query, SUBSCRIPTION_SORTS, args)
    return page_response(WebhookSubscriptionSchema(), page)


@blp.route("/webhook-subscriptions", methods=["POST"])
@api_access(*ADMINS_ONLY)
@blp.arguments(WebhookSubscriptionInSchema)
@blp.response(201, WebhookSubscriptionWithSecretSchema)
@idempotent(response_holds_secret=True)
def create(data: dict[str, Any]):
    """Subscribe a receiver URL to event types. The answer holds the signing secret, once."""
    try:
        subscription, secret = create_subscription(
            db.session,
            url=data["url"],
            event_types=data["event_types"],
            description=data["description"],
            created_by_id=current_api_user().id,
        )
    except WebhookError as exc:
        raise _field_problem(exc) from None
    db.session.commit()
    return _with_secret_response(subscription, secret, status=201)


@blp.route("/webhook-subscriptions/<id:subscription_id>", methods=["GET"])
@api_access(*ADMINS_ONLY)
@blp.response(200, WebhookSubscriptionSchema)
def get_subscription(subscription_id: int):
    """One subscription (never its secret), with its ETag for a later PATCH or DELETE."""
    return _subscription_response(_subscription_or_404(subscription_id))


@blp.route("/webhook-subscriptions/<id:subscription_id>", methods=["PATCH"])
@api_access(*ADMINS_ONLY)
@blp.arguments(WebhookSubscriptionPatchSchema(partial=True))
@blp.response(200, WebhookSubscriptionSchema)
def patch_subscription(data: dict[str, Any], subscription_id: int):
    """Change the URL, event types or description; needs If-Match with the ETag."""
    subscription = _subscription_or_404(subscription_id, for_update=True)
    require_if_match(WebhookSubscriptionSchema().dump(subscription))
    try:
        update_subscription(
            db.session,
            subscription,
            url=data.get("url", subscription.url),
            event_types=data.get("event_types", subscription.event_types),
            description=data.get("description", subscription.description),
        )
    except WebhookError as exc:
        raise _field_problem(exc) from None
    db.session.commit()
    return _subscription_response(subscription)


@blp.route("/webhook-subscriptions/<id:subscription_id>", methods=["DELETE"])
@api_access(*ADMINS_ONLY)
@blp.response(204)
def delete(subscription_id: int):
    """Delete the subscription and its delivery log; needs If-Match with the ETag."""
    subscription = _subscription_or_404(subscription_id, for_update=True)
    require_if_match(WebhookSubscriptionSchema().dump(subscription))
    delete_subscription(db.session, subscription)
    db.session.commit()
    return no_content()


@blp.route("/webhook-subscriptions/<id:subscription_id>/enable", methods=["POST"])
@api_access(*ADMINS_ONLY)
@blp.response(200, WebhookSubscriptionSchema)
@idempotent
def enable(subscription_id: int):
    """Turn the subscription on (again); deliveries waiting for it go out shortly."""
    subscription = _subscription_or_404(subscription_id, for_update=True)
    enable_subscription(subscription)
    db.session.commit()
    return _subscription_response(subscription)


@blp.route("/webhook-subscriptions/<id:subscription_id>/disable", methods=["POST"])
@api_access(*ADMINS_ONLY)
@blp.response(200, WebhookSubscriptionSchema)
@idempotent
def disable(subscription_id: int):
    """Turn the subscription off: no new events are queued for it until it is enabled."""
    subscription = _subscription_or_404(subscription_id, for_update=True)
    if subscription.enabled:
        disable_subscription(
            subscription, f"Turned off through the API by {current_api_user().email}."
        )
        db.session.commit()
    return _subscription_response(subscription)


@blp.route("/webhook-subscriptions/<id:subscription_id>/secret", methods=["POST"])
@api_access(*ADMINS_ONLY)
@blp.response(200, WebhookSubscriptionWithSecretSchema)
@idempotent(response_holds_secret=True)
def new_secret(subscription_id: int):
    """Replace the signing secret; the answer holds the new one, once. The next attempt of
    every delivery is signed with it."""
    subscription = _subscription_or_404(subscription_id, for_update=True)
    secret = replace_secret(db.session, subscription)
    db.session.commit()
    return _with_secret_response(subscription, secret, status=200)


@blp.route("/webhook-subscriptions/<id:subscription_id>/test", methods=["POST"])
@api_access(*ADMINS_ONLY)
@blp.response(201, WebhookDeliverySchema)
@idempotent
def send_test(subscription_id: int):
    """Send a `webhook.test` event now (even while the subscription is off) and answer with
    its delivery: `delivered`, or `failed` with what the receiver said. Tried once."""
    subscription = _subscription_or_404(subscription_id)
    row = send_test_event(
        db.session,
        current_app.extensions["database"],
        WebhookSenderSettings.from_settings(current_app.extensions["settings"]),
        subscription,
        sender_name=f"api:{current_api_user().id}",
    )
    return _delivery_response(row, 201)


# --- the delivery log ----------------------------------------------------------------------


@blp.route("/webhook-subscriptions/<id:subscription_id>/deliveries", methods=["GET"])
@api_access(*ADMINS_ONLY)
@blp.arguments(WebhookDeliveryListQuery, location="query")
@blp.response(200, page_schema(WebhookDeliverySchema, "WebhookDeliveryPage"))
def list_deliveries(args: dict[str, Any], subscription_id: int):
    """The subscription's delivery log, newest first; filter by status and event type."""
    _subscription_or_404(subscription_id)
    query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    if "status" in args:
        query = query.where(WebhookDelivery.status == args["status"])
    if "event_type" in args:
        query = query.where(WebhookDelivery.event_type == args["event_type"])
    page = keyset_page(db.session, query, DELIVERY_SORTS, args)
    return page_response(WebhookDeliverySchema(), page)


@blp.route("/webhook-deliveries/<big_id:webhook_delivery_id>", methods=["GET"])
@api_access(*ADMINS_ONLY)
@blp.response(200, WebhookDeliverySchema)
def get_delivery(webhook_delivery_id: int):
    """One delivery: the event sent, its status, attempts and the receiver's last answer."""
    return _delivery_response(_delivery_or_404(webhook_delivery_id))


@blp.route("/webhook-deliveries/<big_id:webhook_delivery_id>/redeliver", methods=["POST"])
@api_access(*ADMINS_ONLY)
@blp.response(201, WebhookDeliverySchema)
@idempotent
def redeliver_event(webhook_delivery_id: int):
    """Send a finished delivery's event again (same id, same body) as a new delivery.
    409 while the delivery is still being tried."""
    delivery = _delivery_or_404(webhook_delivery_id)
    try:
        row = redeliver(db.session, delivery)
    except WebhookError as exc:
        raise ApiProblem(409, str(exc)) from None
    db.session.commit()
    return _delivery_response(row, 201)
