"""Channel accounts: the email, social, web and print accounts steps send through.

Credentials are write-only, as in the UI: a client sends them on create and PATCH, and no
answer ever contains one, not even an error (the body's other fields are checked by the
same service the UI uses, whose messages name fields, never values). An account shows which
secrets are stored (`stored_credentials`, names only); a PATCH with an empty or absent secret
keeps the stored one.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, current_app, url_for
from sqlalchemy import select

from campaign_manager.api.auth import api_access
from campaign_manager.api.blueprint import ApiSchema, Blueprint
from campaign_manager.api.conditional import require_if_match
from campaign_manager.api.idempotency import idempotent
from campaign_manager.api.pagination import PageQuerySchema, SortOrders, keyset_page, page_schema
from campaign_manager.api.problems import ApiProblem, FieldError
from campaign_manager.api.responses import json_response, page_response
from campaign_manager.channels.accounts import (
    ChannelAccountError,
    check_connection,
    create_account,
    set_account_enabled,
    stored_secret_names,
    update_account,
)
from campaign_manager.channels.models import AccountStatus, ChannelAccount, RateLimits
from campaign_manager.channels.registry import AdapterNotAvailable, installed_adapters
from campaign_manager.core.crypto import CredentialsUnreadable
from campaign_manager.extensions import db
from campaign_manager.web.authz import EDITORS, STAFF

blp = Blueprint(
    "api_channel_accounts",
    __name__,
    url_prefix="/api/v1/channel-accounts",
    description="Channel accounts; credentials are write-only and never returned.",
)


class RateLimitsSchema(ApiSchema):
    per_second = ma.fields.Float(allow_none=True, validate=ma.validate.Range(min=0.001))
    # The columns are 32-bit integers; nobody sends two billion messages a day.
    per_hour = ma.fields.Integer(allow_none=True, validate=ma.validate.Range(min=1, max=10**9))
    per_day = ma.fields.Integer(allow_none=True, validate=ma.validate.Range(min=1, max=10**9))


class ChannelAccountSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    adapter = ma.fields.String(required=True)
    kind = ma.fields.String(allow_none=True, metadata={"description": "email, social, web, print"})
    display_name = ma.fields.String(required=True)
    settings = ma.fields.Dict(metadata={"description": "the adapter's non-secret settings"})
    stored_credentials = ma.fields.List(
        ma.fields.String(), metadata={"description": "names of the secrets stored; never values"}
    )
    status = ma.fields.Enum(AccountStatus, by_value=True, required=True)
    last_error = ma.fields.String()
    last_error_at = ma.fields.DateTime(allow_none=True)
    last_checked_at = ma.fields.DateTime(allow_none=True)
    rate_limits = ma.fields.Nested(RateLimitsSchema)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


_SETTINGS_FIELD = {"description": "the adapter's settings by name (see /adapters)"}
_CREDENTIALS_FIELD = {
    "description": "the adapter's secret settings by name; write-only, never returned. "
    "On PATCH an absent or empty one keeps the stored value.",
    "writeOnly": True,
}


# A secret is text (a token, a password, a PEM key); its errors never quote it.
_SECRET_VALUE = ma.fields.String(validate=ma.validate.Length(max=20_000))


class ChannelAccountInSchema(ApiSchema):
    adapter = ma.fields.String(required=True, validate=ma.validate.Length(max=64))
    display_name = ma.fields.String(required=True, validate=ma.validate.Length(max=200))
    settings = ma.fields.Dict(keys=ma.fields.String(), load_default=dict, metadata=_SETTINGS_FIELD)
    credentials = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.Length(max=64)),
        values=_SECRET_VALUE,
        load_default=dict,
        load_only=True,
        metadata=_CREDENTIALS_FIELD,
    )
    rate_limits = ma.fields.Nested(RateLimitsSchema, load_default=dict)


class ChannelAccountPatchSchema(ApiSchema):
    """Every field optional; `settings` replaces the settings sent, others keep theirs."""

    display_name = ma.fields.String(validate=ma.validate.Length(max=200))
    settings = ma.fields.Dict(keys=ma.fields.String(), metadata=_SETTINGS_FIELD)
    credentials = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.Length(max=64)),
        values=_SECRET_VALUE,
        load_only=True,
        metadata=_CREDENTIALS_FIELD,
    )
    rate_limits = ma.fields.Nested(RateLimitsSchema)


class ChannelAccountListQuery(PageQuerySchema):
    adapter = ma.fields.String(validate=ma.validate.Length(max=64))
    status = ma.fields.Enum(AccountStatus, by_value=True)


class ConnectionCheckSchema(ma.Schema):
    ok = ma.fields.Boolean(required=True)
    message = ma.fields.String(required=True, metadata={"description": "secrets redacted"})
    needs_reconnect = ma.fields.Boolean(required=True)


class AdapterSettingSchema(ma.Schema):
    name = ma.fields.String()
    label = ma.fields.String()
    secret = ma.fields.Boolean(metadata={"description": "goes in credentials, not settings"})
    required = ma.fields.Boolean()
    help = ma.fields.String()
    default = ma.fields.String()
    input_type = ma.fields.String()
    choices = ma.fields.List(ma.fields.String())


class AdapterSchema(ma.Schema):
    name = ma.fields.String(required=True)
    display_name = ma.fields.String()
    kind = ma.fields.String(allow_none=True)
    usable = ma.fields.Boolean()
    error = ma.fields.String()
    fields = ma.fields.List(ma.fields.Nested(AdapterSettingSchema))


class AdapterListSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(AdapterSchema))


ACCOUNT_SORTS = SortOrders(
    ChannelAccount.id, {"id": ChannelAccount.id, "updated_at": ChannelAccount.updated_at}
)


def _kinds() -> dict[str, str | None]:
    return {a.name: (a.kind.value if a.kind else None) for a in installed_adapters()}


def represent(account: ChannelAccount, kinds: dict[str, str | None] | None = None) -> dict:
    try:
        stored = sorted(stored_secret_names(account))
    except CredentialsUnreadable:
        stored = []
    return {
        **{
            name: getattr(account, name)
            for name in ChannelAccountSchema().fields
            if hasattr(ChannelAccount, name) and name != "rate_limits"
        },
        "kind": (kinds if kinds is not None else _kinds()).get(account.adapter),
        "stored_credentials": stored,
        "rate_limits": {
            "per_second": account.rate_per_second,
            "per_hour": account.rate_per_hour,
            "per_day": account.rate_per_day,
        },
    }


def _account_or_404(account_id: int, *, for_update: bool = False) -> ChannelAccount:
    query = select(ChannelAccount).where(ChannelAccount.id == account_id)
    if for_update:
        query = query.with_for_update()
    account = db.session.scalar(query)
    if account is None:
        raise ApiProblem(404, f"There is no channel account #{account_id}.")
    return account


def _account_response(account: ChannelAccount, status: int = 200) -> Response:
    location = (
        url_for("api_channel_accounts.get_account", account_id=account.id)
        if status == 201
        else None
    )
    return json_response(
        ChannelAccountSchema(), represent(account), status=status, location=location
    )


def _problem(exc: ChannelAccountError, secret_names: set[str]) -> ApiProblem:
    field = exc.field
    if field and field not in ("display_name", "adapter") and not field.startswith("rate_"):
        field = ("credentials." if field in secret_names else "settings.") + field
    elif field and field.startswith("rate_"):
        field = "rate_limits." + field.removeprefix("rate_")
    # The service's messages name a field and say what to do; they never quote a value.
    return ApiProblem(422, str(exc), errors=[FieldError(field, str(exc))] if field else [])


def _secret_names(adapter: str) -> set[str]:
    for found in installed_adapters():
        if found.name == adapter and found.adapter_class is not None:
            return {f.name for f in found.adapter_class.fields if f.secret}
    return set()


def _rate_limits(raw: dict[str, Any]) -> RateLimits:
    return RateLimits(raw.get("per_second"), raw.get("per_hour"), raw.get("per_day"))


@blp.route("", methods=["GET"])
@api_access(*STAFF)
@blp.arguments(ChannelAccountListQuery, location="query")
@blp.response(200, page_schema(ChannelAccountSchema, "ChannelAccountPage"))
def list_accounts(args: dict[str, Any]):
    """The channel accounts; filter by adapter or status."""
    query = select(ChannelAccount)
    if args.get("adapter"):
        query = query.where(ChannelAccount.adapter == args["adapter"])
    if args.get("status"):
        query = query.where(ChannelAccount.status == args["status"])
    page = keyset_page(db.session, query, ACCOUNT_SORTS, args)
    kinds = _kinds()
    page = type(page)([represent(a, kinds) for a in page.items], page.next_cursor)
    return page_response(ChannelAccountSchema(), page)


@blp.route("/adapters", methods=["GET"])
@api_access(*STAFF)
@blp.response(200, AdapterListSchema)
def list_adapters():
    """The installed adapters and the settings each takes (secret ones go in credentials)."""
    data = [
        {
            "name": a.name,
            "display_name": a.display_name,
            "kind": a.kind.value if a.kind else None,
            "usable": a.is_usable,
            "error": a.error,
            "fields": list(a.adapter_class.fields) if a.adapter_class else [],
        }
        for a in installed_adapters()
    ]
    return json_response(AdapterListSchema(), {"data": data}, etag=False)


@blp.route("", methods=["POST"])
@api_access(*EDITORS)
@blp.arguments(ChannelAccountInSchema)
@blp.response(201, ChannelAccountSchema)
@idempotent
def create(data: dict[str, Any]):
    """Add an account; test it next with POST .../test."""
    try:
        account = create_account(
            db.session,
            adapter=data["adapter"],
            display_name=data["display_name"],
            settings=data["settings"],
            credentials=data["credentials"],
            rate_limits=_rate_limits(data["rate_limits"]),
        )
    except ChannelAccountError as exc:
        raise _problem(exc, _secret_names(data["adapter"])) from None
    db.session.commit()
    return _account_response(account, 201)


@blp.route("/<id:account_id>", methods=["GET"])
@api_access(*STAFF)
@blp.response(200, ChannelAccountSchema)
def get_account(account_id: int):
    """One account, without its credentials, with its ETag for a later PATCH."""
    return _account_response(_account_or_404(account_id))


@blp.route("/<id:account_id>", methods=["PATCH"])
@api_access(*EDITORS)
@blp.arguments(ChannelAccountPatchSchema)
@blp.response(200, ChannelAccountSchema)
def patch_account(data: dict[str, Any], account_id: int):
    """Change what is sent; needs If-Match. Empty or absent credentials keep the stored ones;
    new ones make an account that needed reconnecting active again."""
    account = _account_or_404(account_id, for_update=True)
    require_if_match(ChannelAccountSchema().dump(represent(account)))
    limits = {
        "per_second": account.rate_per_second,
        "per_hour": account.rate_per_hour,
        "per_day": account.rate_per_day,
        **data.get("rate_limits", {}),
    }
    try:
        update_account(
            db.session,
            account,
            display_name=data.get("display_name", account.display_name),
            settings={**(account.settings or {}), **data.get("settings", {})},
            credentials=data.get("credentials", {}),
            rate_limits=_rate_limits(limits),
        )
    except ChannelAccountError as exc:
        raise _problem(exc, _secret_names(account.adapter)) from None
    except CredentialsUnreadable as exc:
        raise ApiProblem(409, f"{exc}.") from None
    db.session.commit()
    return _account_response(account)


@blp.route("/<id:account_id>/test", methods=["POST"])
@api_access(*EDITORS)
@blp.response(200, ConnectionCheckSchema)
@idempotent
def test_connection(account_id: int):
    """Ask the provider whether the account works; the answer is recorded on the account.

    200 with ok false when the provider says no (the message has any secret redacted).
    """
    account = _account_or_404(account_id)
    try:
        result = check_connection(
            db.session, account, instance_path=current_app.extensions["settings"].instance_dir
        )
    except (AdapterNotAvailable, CredentialsUnreadable) as exc:
        raise ApiProblem(409, f"The connection cannot be tested: {exc}") from None
    return json_response(
        ConnectionCheckSchema(),
        {"ok": result.ok, "message": result.message, "needs_reconnect": result.needs_reconnect},
        etag=False,
    )


def _set_enabled(account_id: int, enabled: bool) -> Response:
    account = _account_or_404(account_id, for_update=True)
    set_account_enabled(account, enabled)
    db.session.commit()
    return _account_response(account)


@blp.route("/<id:account_id>/disable", methods=["POST"])
@api_access(*EDITORS)
@blp.response(200, ChannelAccountSchema)
@idempotent
def disable(account_id: int):
    """Stop sending through the account (steps that use it wait)."""
    return _set_enabled(account_id, False)


@blp.route("/<id:account_id>/enable", methods=["POST"])
@api_access(*EDITORS)
@blp.response(200, ChannelAccountSchema)
@idempotent
def enable(account_id: int):
    """Allow sending through a disabled account again."""
    return _set_enabled(account_id, True)
