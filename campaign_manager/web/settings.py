"""Settings: your own account, and (for admins) users, vendor companies and organisations."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    session,
    url_for,
)
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, PasswordField, SelectField, StringField, TextAreaField, URLField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp

from campaign_manager.core.accounts import (
    AccountError,
    Organization,
    OrganizationKind,
    Role,
    User,
    Vendor,
    create_user,
    create_vendor,
    set_password,
    unlock_sign_in,
)
from campaign_manager.core.api_tokens import ApiToken, create_token, revoke_token, tokens_of
from campaign_manager.core.db import utcnow
from campaign_manager.core.feed_tokens import (
    CalendarFeedToken,
    create_feed_token,
    feed_tokens_of,
    revoke_feed_token,
)
from campaign_manager.core.security import verify_password
from campaign_manager.extensions import db
from campaign_manager.web.authz import ADMINS_ONLY, EDITORS, EVERYONE, STAFF, requires_role

bp = Blueprint("settings", __name__, url_prefix="/settings")


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField(
        "New password", validators=[DataRequired(), Length(min=10, max=1000)]
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("new_password", message="The passwords differ.")],
    )


class UserForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    display_name = StringField("Name", validators=[Optional(), Length(max=200)])
    role = SelectField("Role", choices=[SelectChoice(r.value, r.value.capitalize()) for r in Role])
    vendor_id = SelectField("Vendor company (vendor users only)", coerce=int, choices=[])
    password = PasswordField(
        "Initial password", validators=[DataRequired(), Length(min=10, max=1000)]
    )


class VendorForm(FlaskForm):
    name = StringField("Company name", validators=[DataRequired(), Length(max=200)])
    contact_email = EmailField(
        "Email for job notices", validators=[DataRequired(), Length(max=320)]
    )
    postal_address = TextAreaField("Postal address", validators=[Optional(), Length(max=2000)])


class OrganizationForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    kind = SelectField(
        "Kind", choices=[SelectChoice(k.value, k.value.capitalize()) for k in OrganizationKind]
    )
    website = URLField(
        "Website",
        validators=[
            Optional(),
            Length(max=500),
            Regexp(r"^https?://[^\s]+$", message="Enter a full http:// or https:// address."),
        ],
    )
    region = StringField("Region", validators=[Optional(), Length(max=100)])


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for action buttons."""


@bp.route("/", methods=["GET", "POST"])
@requires_role(*EVERYONE)
def index():
    form = PasswordForm()
    if form.validate_on_submit():
        if not verify_password(current_user.password_hash, form.current_password.data):
            form.current_password.errors.append("That is not your current password.")
        else:
            try:
                set_password(current_user, form.new_password.data)
            except AccountError as exc:
                form.new_password.errors.append(str(exc))
            else:
                db.session.commit()
                # The new password ended every session, this one too: carry on in a new one.
                session.clear()
                login_user(current_user._get_current_object())
                session.permanent = True
                flash("Your password is changed. Other sessions are signed out.", "success")
                return redirect(url_for("settings.index"))
    return render_template("settings/index.html", form=form)


@bp.route("/users", methods=["GET", "POST"])
@requires_role(*ADMINS_ONLY)
def users():
    form = UserForm()
    vendors = db.session.scalars(select(Vendor).order_by(Vendor.name)).all()
    form.vendor_id.choices = [SelectChoice(0, "— none —")] + [
        SelectChoice(v.id, v.name) for v in vendors
    ]
    if form.validate_on_submit():
        vendor = db.session.get(Vendor, form.vendor_id.data) if form.vendor_id.data else None
        try:
            user = create_user(
                db.session,
                form.email.data,
                form.password.data,
                form.role.data,
                vendor=vendor,
                display_name=form.display_name.data or "",
            )
        except AccountError as exc:
            field = form.vendor_id if "vendor" in str(exc) else form.email
            if "password" in str(exc).lower() or "characters" in str(exc):
                field = form.password
            field.errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"User {user.email} created with role {user.role.value}.", "success")
            return redirect(url_for("settings.users"))
    all_users = db.session.scalars(select(User).order_by(User.email)).all()
    return render_template("settings/users.html", form=form, users=all_users, action=EmptyForm())


@bp.route("/users/<int:user_id>/toggle-active", methods=["POST"])
@requires_role(*ADMINS_ONLY)
def toggle_user_active(user_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    user = db.session.get(User, user_id) or abort(404)
    if user.id == current_user.id:
        flash("You cannot disable your own account.", "error")
        return redirect(url_for("settings.users"))
    user.is_active = not user.is_active
    db.session.commit()
    flash(f"{user.email} is now {'enabled' if user.is_active else 'disabled'}.", "success")
    return redirect(url_for("settings.users"))


@bp.route("/users/<int:user_id>/unlock", methods=["POST"])
@requires_role(*ADMINS_ONLY)
def unlock_user(user_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    user = db.session.get(User, user_id) or abort(404)
    unlocked = unlock_sign_in(db.session, user.email)
    db.session.commit()
    flash(
        f"Sign-in for {user.email} unlocked." if unlocked else f"{user.email} was not locked.",
        "success" if unlocked else "info",
    )
    return redirect(url_for("settings.users"))


@bp.route("/vendors", methods=["GET", "POST"])
@requires_role(*ADMINS_ONLY)
def vendors():
    form = VendorForm()
    if form.validate_on_submit():
        try:
            vendor = create_vendor(
                db.session, form.name.data, form.contact_email.data, form.postal_address.data or ""
            )
        except AccountError as exc:
            target = form.contact_email if "email" in str(exc) else form.name
            target.errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"Vendor {vendor.name} added.", "success")
            return redirect(url_for("settings.vendors"))
    all_vendors = db.session.scalars(select(Vendor).order_by(Vendor.name)).all()
    return render_template("settings/vendors.html", form=form, vendors=all_vendors)


def _organizations_page(form: OrganizationForm, status: int = 200):
    orgs = db.session.scalars(
        select(Organization).order_by(Organization.kind, Organization.name)
    ).all()
    return render_template("settings/organizations.html", form=form, organizations=orgs), status


@bp.route("/organizations")
@requires_role(*STAFF)
def organizations():
    return _organizations_page(OrganizationForm())


@bp.route("/organizations", methods=["POST"])
@requires_role(*EDITORS)
def create_organization():
    form = OrganizationForm()
    if form.validate_on_submit():
        name = form.name.data.strip()
        if db.session.scalar(select(Organization).where(Organization.name == name)):
            form.name.errors.append(f"An organisation named {name} already exists.")
        else:
            db.session.add(
                Organization(
                    name=name,
                    kind=OrganizationKind(form.kind.data),
                    website=form.website.data or "",
                    region=form.region.data or "",
                )
            )
            db.session.commit()
            flash(f"Organisation {name} added.", "success")
            return redirect(url_for("settings.organizations"))
    return _organizations_page(form, 400)


# --- API tokens ----------------------------------------------------------------------------


class ApiTokenForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=100)],
        description="What will use it, for example: CRM sync.",
    )
    expires_in_days = SelectField(
        "Expires",
        coerce=int,
        choices=[
            SelectChoice(30, "in 30 days"),
            SelectChoice(90, "in 90 days"),
            SelectChoice(365, "in a year"),
            SelectChoice(0, "never"),
        ],
        default=90,
    )


def _api_tokens_page(form: ApiTokenForm, new_secret: str | None = None, status: int = 200):
    return (
        render_template(
            "settings/api_tokens.html",
            form=form,
            tokens=tokens_of(db.session, current_user),
            new_secret=new_secret,
            action=EmptyForm(),
            now=utcnow(),
        ),
        status,
    )


@bp.route("/api-tokens")
@requires_role(*EVERYONE)
def api_tokens():
    return _api_tokens_page(ApiTokenForm())


@bp.route("/api-tokens", methods=["POST"])
@requires_role(*EVERYONE)
def create_api_token():
    form = ApiTokenForm()
    if not form.validate_on_submit():
        return _api_tokens_page(form, status=400)
    try:
        created = create_token(
            db.session,
            current_user,
            form.name.data,
            expires_in_days=form.expires_in_days.data or None,
        )
    except AccountError as exc:
        form.name.errors.append(str(exc))
        return _api_tokens_page(form, status=400)
    db.session.commit()
    # Shown on this page only: the database keeps just its hash.
    return _api_tokens_page(ApiTokenForm(formdata=None), new_secret=created.secret)


@bp.route("/api-tokens/<int:token_id>/revoke", methods=["POST"])
@requires_role(*EVERYONE)
def revoke_api_token(token_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    token = db.session.get(ApiToken, token_id)
    # Everyone revokes only their own tokens; another user's token is as good as absent.
    if token is None or token.user_id != current_user.id:
        abort(404)
    revoke_token(token)
    db.session.commit()
    flash(f"The token {token.name} is revoked; programs using it get 401 from now on.", "success")
    return redirect(url_for("settings.api_tokens"))


# --- calendar feeds ------------------------------------------------------------------------


class CalendarFeedForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=100)],
        description="Where you subscribe, for example: Outlook at work.",
    )


def _feed_url(secret: str) -> str:
    base = current_app.extensions["settings"].app.base_url.rstrip("/")
    return base + url_for("api_calendar_feed.feed", token=secret)


def _calendar_feeds_page(form: CalendarFeedForm, new_url: str | None = None, status: int = 200):
    return (
        render_template(
            "settings/calendar_feeds.html",
            form=form,
            feeds=feed_tokens_of(db.session, current_user),
            new_url=new_url,
            action=EmptyForm(),
        ),
        status,
    )


@bp.route("/calendar-feeds")
@requires_role(*STAFF)
def calendar_feeds():
    return _calendar_feeds_page(CalendarFeedForm())


@bp.route("/calendar-feeds", methods=["POST"])
@requires_role(*STAFF)
def create_calendar_feed():
    form = CalendarFeedForm()
    if not form.validate_on_submit():
        return _calendar_feeds_page(form, status=400)
    try:
        created = create_feed_token(db.session, current_user, form.name.data)
    except AccountError as exc:
        form.name.errors.append(str(exc))
        return _calendar_feeds_page(form, status=400)
    db.session.commit()
    # Shown on this page only: the database keeps just the token's hash.
    return _calendar_feeds_page(CalendarFeedForm(formdata=None), new_url=_feed_url(created.secret))


@bp.route("/calendar-feeds/<int:feed_id>/revoke", methods=["POST"])
@requires_role(*STAFF)
def revoke_calendar_feed(feed_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    feed = db.session.get(CalendarFeedToken, feed_id)
    # Everyone revokes only their own feeds; another user's is as good as absent.
    if feed is None or feed.user_id != current_user.id:
        abort(404)
    revoke_feed_token(feed)
    db.session.commit()
    flash(f"The feed {feed.name} is revoked; calendars subscribed to it stop updating.", "success")
    return redirect(url_for("settings.calendar_feeds"))
