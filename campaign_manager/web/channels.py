"""Channels: installed adapters, channel accounts (create, edit, test, disable), sandbox
recordings. Credentials are write-only here: no page or form ever contains a stored one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import SQLAlchemyError
from wtforms import (
    BooleanField,
    Field,
    FloatField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from campaign_manager.channels.accounts import (
    ChannelAccountError,
    accounts_needing_reconnect,
    check_connection,
    create_account,
    list_accounts,
    set_account_enabled,
    stored_secret_names,
    update_account,
)
from campaign_manager.channels.base import ChannelAdapter, SettingField
from campaign_manager.channels.bounces import recent_events
from campaign_manager.channels.models import ChannelAccount, RateLimits
from campaign_manager.channels.registry import (
    AdapterNotAvailable,
    InstalledAdapter,
    adapter_class,
    installed_adapters,
)
from campaign_manager.channels.sandbox import list_records, read_record
from campaign_manager.core.accounts import Role
from campaign_manager.core.crypto import CredentialsUnreadable
from campaign_manager.extensions import db
from campaign_manager.web.authz import EDITORS, STAFF, requires_role

bp = Blueprint("channels", __name__, url_prefix="/channels")

SETTING_PREFIX = "s_"
RECENT_EVENTS = 20


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for action buttons."""


class SecretTextArea(TextAreaField):
    """A text area that never renders a value: for secrets such as a PEM key."""

    def _value(self) -> str:
        return ""


class AccountFormBase(FlaskForm):
    display_name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    rate_per_second = FloatField(
        "At most this many messages per second",
        validators=[Optional(), NumberRange(min=0.001, message="Enter a positive number.")],
    )
    rate_per_hour = IntegerField(
        "At most this many per hour",
        validators=[Optional(), NumberRange(min=1, message="Enter a whole number of 1 or more.")],
    )
    rate_per_day = IntegerField(
        "At most this many per day",
        validators=[Optional(), NumberRange(min=1, message="Enter a whole number of 1 or more.")],
    )


def _form_field(setting: SettingField) -> Field:
    optional = not setting.required and setting.input_type != "bool"
    label = f"{setting.label} (optional)" if optional else setting.label
    if setting.secret:
        if setting.input_type == "textarea":
            return SecretTextArea(label, validators=[Optional()])
        return PasswordField(label, validators=[Optional()])
    if setting.input_type == "bool":
        return BooleanField(label, default=setting.default.lower() in ("1", "true", "yes", "on"))
    if setting.input_type == "choice":
        return SelectField(
            label,
            choices=[SelectChoice(c, c) for c in setting.choices],
            default=setting.default or None,
        )
    if setting.input_type == "textarea":
        return TextAreaField(label, default=setting.default)
    return StringField(label, default=setting.default)


def account_form(cls: type[ChannelAdapter], **kwargs: Any) -> AccountFormBase:
    """A form for `cls`'s settings: one field per SettingField, prefixed to avoid clashes."""

    class AccountForm(AccountFormBase):
        pass

    for setting in cls.fields:
        setattr(AccountForm, SETTING_PREFIX + setting.name, _form_field(setting))
    return AccountForm(**kwargs)


def _submitted(form: AccountFormBase, cls: type[ChannelAdapter]) -> dict[str, dict[str, Any]]:
    values = {s.name: form[SETTING_PREFIX + s.name].data for s in cls.fields}
    return {
        "settings": {s.name: values[s.name] for s in cls.fields if not s.secret},
        "credentials": {s.name: values[s.name] or "" for s in cls.fields if s.secret},
    }


def _rate_limits(form: AccountFormBase) -> RateLimits:
    return RateLimits(form.rate_per_second.data, form.rate_per_hour.data, form.rate_per_day.data)


def _show_error(form: AccountFormBase, error: ChannelAccountError) -> None:
    name = error.field or ""
    target = form._fields.get(name) or form._fields.get(SETTING_PREFIX + name)
    if target is None:
        flash(str(error), "error")
    else:
        target.errors = [*target.errors, str(error)]


def _hints(cls: type[ChannelAdapter], stored: set[str]) -> dict[str, str]:
    hints = {}
    for setting in cls.fields:
        hint = setting.help
        if setting.secret:
            hint = (
                "Stored, and never shown again. Leave empty to keep it, or enter a new value."
                if setting.name in stored
                else f"{hint} Never shown again once saved.".strip()
            )
        hints[setting.name] = hint
    return hints


def _instance_path() -> Path:
    return current_app.extensions["settings"].instance_dir


def _account_or_404(account_id: int) -> ChannelAccount:
    return db.session.get(ChannelAccount, account_id) or abort(404)


def _installed_or_404(name: str) -> InstalledAdapter:
    for found in installed_adapters():
        if found.name == name:
            return found
    abort(404)


def reconnect_alert() -> list[ChannelAccount]:
    """Accounts that need reconnecting, for the alert every staff page shows."""
    if not current_user.is_authenticated or current_user.role is Role.VENDOR:
        return []
    try:
        return accounts_needing_reconnect(db.session)
    except SQLAlchemyError:
        # This runs on every page, error pages included: a broken database must not
        # turn the page explaining it into a second error.
        return []


# --- lists --------------------------------------------------------------------------------


@bp.route("/")
@requires_role(*STAFF)
def index():
    adapters = installed_adapters()
    by_name = {a.name: a for a in adapters}
    return render_template(
        "channels/index.html",
        accounts=list_accounts(db.session),
        adapters=adapters,
        adapter_info=by_name,
    )


@bp.route("/new")
@requires_role(*EDITORS)
def choose_adapter():
    usable = [a for a in installed_adapters() if a.is_usable]
    return render_template("channels/choose_adapter.html", adapters=usable)


# --- create and edit ----------------------------------------------------------------------


@bp.route("/new/<adapter_name>", methods=["GET", "POST"])
@requires_role(*EDITORS)
def new_account(adapter_name: str):
    installed = _installed_or_404(adapter_name)
    if installed.adapter_class is None:
        flash(f"The adapter {adapter_name} cannot be used: {installed.error}", "error")
        return redirect(url_for("channels.index"))
    cls = installed.adapter_class
    form = account_form(cls)
    if form.validate_on_submit():
        submitted = _submitted(form, cls)
        try:
            account = create_account(
                db.session,
                adapter=adapter_name,
                display_name=form.display_name.data,
                settings=submitted["settings"],
                credentials=submitted["credentials"],
                rate_limits=_rate_limits(form),
            )
        except ChannelAccountError as exc:
            _show_error(form, exc)
        else:
            db.session.commit()
            flash(f"Channel account {account.display_name} created. Test it now.", "success")
            return redirect(url_for("channels.account", account_id=account.id))
    status = 400 if form.is_submitted() else 200
    return render_template(
        "channels/account_form.html",
        form=form,
        adapter=installed,
        fields=cls.fields,
        hints=_hints(cls, set()),
        account=None,
        prefix=SETTING_PREFIX,
    ), status


@bp.route("/<int:account_id>/edit", methods=["GET", "POST"])
@requires_role(*EDITORS)
def edit_account(account_id: int):
    account = _account_or_404(account_id)
    try:
        cls = adapter_class(account.adapter)
    except AdapterNotAvailable as exc:
        flash(str(exc), "error")
        return redirect(url_for("channels.account", account_id=account.id))
    try:
        stored = stored_secret_names(account)
    except CredentialsUnreadable as exc:
        flash(f"{exc}.", "error")
        stored = set()
    if request.method == "GET":
        data = {SETTING_PREFIX + k: v for k, v in (account.settings or {}).items()}
        form = account_form(
            cls,
            data={
                **data,
                "display_name": account.display_name,
                "rate_per_second": account.rate_per_second,
                "rate_per_hour": account.rate_per_hour,
                "rate_per_day": account.rate_per_day,
            },
        )
    else:
        form = account_form(cls)
    if form.validate_on_submit():
        submitted = _submitted(form, cls)
        try:
            update_account(
                db.session,
                account,
                display_name=form.display_name.data,
                settings=submitted["settings"],
                credentials=submitted["credentials"],
                rate_limits=_rate_limits(form),
            )
        except ChannelAccountError as exc:
            _show_error(form, exc)
        except CredentialsUnreadable as exc:
            flash(f"{exc}.", "error")
        else:
            db.session.commit()
            flash(f"Channel account {account.display_name} saved.", "success")
            return redirect(url_for("channels.account", account_id=account.id))
    status = 400 if form.is_submitted() else 200
    return render_template(
        "channels/account_form.html",
        form=form,
        adapter=_installed_or_404(account.adapter),
        fields=cls.fields,
        hints=_hints(cls, stored),
        account=account,
        prefix=SETTING_PREFIX,
    ), status


# --- one account --------------------------------------------------------------------------


@bp.route("/<int:account_id>")
@requires_role(*STAFF)
def account(account_id: int):
    account = _account_or_404(account_id)
    installed = next((a for a in installed_adapters() if a.name == account.adapter), None)
    try:
        stored = stored_secret_names(account)
        unreadable = False
    except CredentialsUnreadable:
        stored, unreadable = set(), True
    events = recent_events(db.session, account, RECENT_EVENTS)
    records = (
        list_records(_instance_path(), account.id) if installed and installed.is_sandbox else []
    )
    webhook_url = None
    if installed and installed.receives_webhooks:
        base = current_app.extensions["settings"].app.base_url.rstrip("/")
        webhook_url = base + url_for(
            "webhooks.receive", account_id=account.id, token=account.webhook_token
        )
    return render_template(
        "channels/account.html",
        account=account,
        adapter=installed,
        stored=stored,
        credentials_unreadable=unreadable,
        events=events,
        records=records,
        webhook_url=webhook_url,
        action=EmptyForm(),
    )


@bp.route("/<int:account_id>/test", methods=["POST"])
@requires_role(*EDITORS)
def test_connection(account_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    account = _account_or_404(account_id)
    try:
        result = check_connection(db.session, account, instance_path=_instance_path())
    except (AdapterNotAvailable, CredentialsUnreadable) as exc:
        flash(f"The connection cannot be tested: {exc}", "error")
    else:
        if result.ok:
            flash(result.message, "success")
        elif result.needs_reconnect:
            flash(
                f"The provider refused the credentials: {result.message} "
                "Enter new ones with Edit, then test again.",
                "error",
            )
        else:
            flash(f"The connection does not work: {result.message}", "error")
    return redirect(url_for("channels.account", account_id=account_id))


@bp.route("/<int:account_id>/disable", methods=["POST"])
@requires_role(*EDITORS)
def disable_account(account_id: int):
    return _set_enabled(account_id, False)


@bp.route("/<int:account_id>/enable", methods=["POST"])
@requires_role(*EDITORS)
def enable_account(account_id: int):
    return _set_enabled(account_id, True)


def _set_enabled(account_id: int, enabled: bool):
    if not EmptyForm().validate_on_submit():
        abort(400)
    account = _account_or_404(account_id)
    set_account_enabled(account, enabled)
    db.session.commit()
    flash(
        f"{account.display_name} is now {'enabled' if enabled else 'disabled'}"
        + ("" if enabled else ": nothing will be sent through it.")
        + ("" if not enabled or account.is_usable else " It still needs reconnecting."),
        "success",
    )
    return redirect(url_for("channels.account", account_id=account_id))


# --- sandbox recordings -------------------------------------------------------------------


def _record_or_404(account_id: int, record_name: str):
    account = _account_or_404(account_id)
    record = read_record(_instance_path(), account.id, record_name)
    if record is None:
        abort(404)
    return account, record


@bp.route("/<int:account_id>/sandbox/<record_name>")
@requires_role(*STAFF)
def sandbox_record(account_id: int, record_name: str):
    account, record = _record_or_404(account_id, record_name)
    return render_template("channels/sandbox_record.html", account=account, record=record)


@bp.route("/<int:account_id>/sandbox/<record_name>/preview")
@requires_role(*STAFF)
def sandbox_preview(account_id: int, record_name: str):
    """The recorded HTML alone, for the sandboxed frame on the record's page."""
    _account, record = _record_or_404(account_id, record_name)
    response = Response(str(record.data.get("html") or ""), mimetype="text/html")
    # Recorded email HTML relies on inline styles; it may run no script and load nothing
    # but inline images, and only this site may frame it.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "frame-ancestors 'self'; form-action 'none'; base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
