"""Settings → Webhooks: subscriptions to outgoing webhook events, and their delivery logs.

Admins only. A subscription sends workspace data (contact addresses on unsubscribes,
campaign and delivery results) to an address outside the app and holds a signing secret,
so deciding where data goes is an administrator's call, like adding users. Everyone sees
on the dashboard when a subscription was turned off after failures; admins fix it here.

(The provider-facing endpoint for *incoming* bounce webhooks is web/webhooks.py.)
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import StringField, URLField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from campaign_manager.core.webhooks import (
    MAX_DESCRIPTION_LENGTH,
    MAX_URL_LENGTH,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookError,
    WebhookEventType,
    WebhookSubscription,
    create_subscription,
    disable_subscription,
    enable_subscription,
    redeliver,
    replace_secret,
    update_subscription,
)
from campaign_manager.extensions import db
from campaign_manager.web.authz import ADMINS_ONLY, requires_role
from campaign_manager.web.creatives import MultiCheckboxField
from schedulers.webhooks import WebhookSenderSettings, send_test_event

bp = Blueprint("outgoing_webhooks", __name__, url_prefix="/settings/webhooks")

# The delivery log shows this many rows per page, newest first.
LOG_PAGE_SIZE = 50


class SubscriptionForm(FlaskForm):
    url = URLField("Receiver URL", validators=[DataRequired(), Length(max=MAX_URL_LENGTH)])
    description = StringField(
        "Description", validators=[Optional(), Length(max=MAX_DESCRIPTION_LENGTH)]
    )
    event_types = MultiCheckboxField(
        "Events this receiver gets",
        choices=[SelectChoice(t.value, f"{t.value} — {t.description}") for t in WebhookEventType],
        validate_choice=True,
    )


class EmptyForm(FlaskForm):
    """Only the CSRF token, for action buttons."""


def _subscription_or_404(subscription_id: int) -> WebhookSubscription:
    return db.session.get(WebhookSubscription, subscription_id) or abort(404)


def _save(form: SubscriptionForm, subscription: WebhookSubscription | None):
    """Create or update from a valid form; returns (subscription, secret) or None on error."""
    try:
        if subscription is None:
            return create_subscription(
                db.session,
                url=form.url.data,
                event_types=form.event_types.data or [],
                description=form.description.data or "",
                created_by_id=current_user.id,
            )
        update_subscription(
            db.session,
            subscription,
            url=form.url.data,
            event_types=form.event_types.data or [],
            description=form.description.data or "",
        )
        return subscription, None
    except WebhookError as exc:
        target = getattr(form, exc.field, form.url)
        target.errors = [*target.errors, str(exc)]
        return None


@bp.route("/")
@requires_role(*ADMINS_ONLY)
def index():
    subscriptions = db.session.scalars(
        select(WebhookSubscription).order_by(WebhookSubscription.id)
    ).all()
    waiting = dict(
        db.session.execute(
            select(WebhookDelivery.subscription_id, func.count())
            .where(WebhookDelivery.status == WebhookDeliveryStatus.PENDING)
            .group_by(WebhookDelivery.subscription_id)
        ).all()
    )
    return render_template("settings/webhooks.html", subscriptions=subscriptions, waiting=waiting)


@bp.route("/new", methods=["GET", "POST"])
@requires_role(*ADMINS_ONLY)
def new():
    form = SubscriptionForm()
    status = 200
    if form.is_submitted():
        status = 400
        if form.validate():
            saved = _save(form, None)
            if saved:
                subscription, secret = saved
                db.session.commit()
                # Rendered, not redirected: the secret must not travel through the session.
                return _page(subscription, secret=secret)
    return render_template("settings/webhook_form.html", form=form, subscription=None), status


@bp.route("/<int:subscription_id>")
@requires_role(*ADMINS_ONLY)
def show(subscription_id: int):
    return _page(_subscription_or_404(subscription_id))


def _page(subscription: WebhookSubscription, secret: str | None = None):
    log = db.session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription.id)
        .order_by(WebhookDelivery.id.desc())
        .limit(LOG_PAGE_SIZE)
    ).all()
    return render_template(
        "settings/webhook.html",
        subscription=subscription,
        deliveries=log,
        secret=secret,
        action=EmptyForm(),
        retrying=(WebhookDeliveryStatus.PENDING, WebhookDeliveryStatus.SENDING),
    )


@bp.route("/<int:subscription_id>/edit", methods=["GET", "POST"])
@requires_role(*ADMINS_ONLY)
def edit(subscription_id: int):
    subscription = _subscription_or_404(subscription_id)
    form = SubscriptionForm(obj=subscription)
    status = 200
    if form.is_submitted():
        status = 400
        if form.validate() and _save(form, subscription):
            db.session.commit()
            flash("The subscription is saved.", "success")
            return redirect(url_for("outgoing_webhooks.show", subscription_id=subscription.id))
    return (
        render_template("settings/webhook_form.html", form=form, subscription=subscription),
        status,
    )


def _checked_action() -> None:
    if not EmptyForm().validate_on_submit():
        abort(400)


@bp.route("/<int:subscription_id>/disable", methods=["POST"])
@requires_role(*ADMINS_ONLY)
def disable(subscription_id: int):
    _checked_action()
    subscription = _subscription_or_404(subscription_id)
    disable_subscription(subscription, f"Turned off by {current_user.email}.")
    db.session.commit()
    flash("The subscription is off: new events are not queued for it.", "success")
    return redirect(url_for("outgoing_webhooks.show", subscription_id=subscription_id))


@bp.route("/<int:subscription_id>/enable", methods=["POST"])
@requires_role(*ADMINS_ONLY)
def enable(subscription_id: int):
    _checked_action()
    subscription = _subscription_or_404(subscription_id)
    enable_subscription(subscription)
    db.session.commit()
    flash("The subscription is on again; waiting deliveries go out shortly.", "success")
    return redirect(url_for("outgoing_webhooks.show", subscription_id=subscription_id))


@bp.route("/<int:subscription_id>/secret", methods=["POST"])
@requires_role(*ADMINS_ONLY)
def new_secret(subscription_id: int):
    _checked_action()
    subscription = _subscription_or_404(subscription_id)
    secret = replace_secret(db.session, subscription)
    db.session.commit()
    return _page(subscription, secret=secret)


@bp.route("/<int:subscription_id>/test", methods=["POST"])
@requires_role(*ADMINS_ONLY)
def send_test(subscription_id: int):
    """Send a `webhook.test` event now and say what the receiver answered."""
    _checked_action()
    subscription = _subscription_or_404(subscription_id)
    row = send_test_event(
        db.session,
        current_app.extensions["database"],
        WebhookSenderSettings.from_settings(current_app.extensions["settings"]),
        subscription,
        sender_name=f"web:{current_user.id}",
    )
    if row.status is WebhookDeliveryStatus.DELIVERED:
        flash(f"The test event was delivered (HTTP {row.response_code}).", "success")
    else:
        flash(f"The test event was not delivered: {row.error}", "error")
    return redirect(url_for("outgoing_webhooks.show", subscription_id=subscription_id))


@bp.route("/deliveries/<int:webhook_delivery_id>/redeliver", methods=["POST"])
@requires_role(*ADMINS_ONLY)
def redeliver_event(webhook_delivery_id: int):
    _checked_action()
    delivery = db.session.get(WebhookDelivery, webhook_delivery_id) or abort(404)
    try:
        redeliver(db.session, delivery)
    except WebhookError as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(
            f"Event {delivery.event_id} is queued to be delivered again"
            + ("." if delivery.subscription.enabled else " once the subscription is on."),
            "success",
        )
    return redirect(url_for("outgoing_webhooks.show", subscription_id=delivery.subscription_id))
