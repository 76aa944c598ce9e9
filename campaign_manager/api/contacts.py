"""Contacts: CRUD, bulk upsert, consent history and unsubscribe.

This module is the pattern for every API resource: schemas first (they validate requests and
document the API at once), then thin views that parse, call one service from `audiences`,
commit once, and answer with `json_response` / `page_response`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import marshmallow as ma
from flask import Response, request, url_for
from sqlalchemy import select

from audiences.contacts import (
    AudienceError,
    ContactFieldError,
    ContactFilter,
    age_band,
    create_contact,
    email_hash,
    filtered_contacts,
    normalize_contact_email,
    record_consent,
    update_contact,
    upsert_contacts,
)
from audiences.models import (
    AgeBand,
    Consent,
    ConsentChannel,
    ConsentStatus,
    Contact,
    ContactRole,
    ContactTag,
    Suppression,
    SuppressionReason,
)
from audiences.privacy import erase_contact
from audiences.segments import today_utc
from audiences.suppression import suppression_for
from audiences.unsubscribe import unsubscribe_contact
from campaign_manager.api.auth import api_access, current_api_user
from campaign_manager.api.blueprint import ApiSchema, Blueprint
from campaign_manager.api.conditional import require_if_match
from campaign_manager.api.idempotency import idempotent
from campaign_manager.api.pagination import (
    Page,
    PageQuerySchema,
    SortOrders,
    keyset_page,
    page_schema,
)
from campaign_manager.api.problems import ApiProblem, FieldError, field_errors_from_messages
from campaign_manager.api.responses import json_response, no_content, page_response
from campaign_manager.extensions import db
from campaign_manager.web.authz import ADMINS_ONLY, EDITORS, STAFF

blp = Blueprint(
    "api_contacts",
    __name__,
    url_prefix="/api/v1/contacts",
    description="People: students, parents, educators, employers; their consent and unsubscribes.",
)

BULK_LIMIT = 10_000


# --- schemas -------------------------------------------------------------------------------


class ConsentStateSchema(ma.Schema):
    email = ma.fields.Enum(ConsentStatus, by_value=True)
    print = ma.fields.Enum(ConsentStatus, by_value=True)
    parental = ma.fields.Enum(ConsentStatus, by_value=True)


class ContactSchema(ma.Schema):
    """A contact as the API shows it (dumped from `_represent`)."""

    id = ma.fields.Integer(required=True)
    email = ma.fields.String(allow_none=True, required=True)
    phone = ma.fields.String()
    first_name = ma.fields.String()
    last_name = ma.fields.String()
    role = ma.fields.Enum(ContactRole, by_value=True)
    school = ma.fields.String()
    region = ma.fields.String()
    postal_code = ma.fields.String()
    graduation_year = ma.fields.Integer(allow_none=True)
    birth_year = ma.fields.Integer(allow_none=True)
    birth_date = ma.fields.Date(allow_none=True)
    age_band = ma.fields.Enum(
        AgeBand, by_value=True, metadata={"description": "from the birth date or year"}
    )
    timezone = ma.fields.String()
    locale = ma.fields.String()
    attributes = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())
    tags = ma.fields.List(ma.fields.String())
    consent = ma.fields.Nested(ConsentStateSchema)
    suppressed = ma.fields.Enum(
        SuppressionReason,
        by_value=True,
        allow_none=True,
        metadata={"description": "why the address gets no mail, or null"},
    )
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


def _text(max_length: int, **kwargs: Any) -> ma.fields.String:
    return ma.fields.String(validate=ma.validate.Length(max=max_length), **kwargs)


class ContactInSchema(ApiSchema):
    """The fields a client may set. On PATCH every field is optional; absent ones stay."""

    email = _text(320, allow_none=True, metadata={"description": "unique, case-insensitively"})
    phone = _text(40)
    first_name = _text(100)
    last_name = _text(100)
    role = ma.fields.Enum(ContactRole, by_value=True)
    school = _text(200)
    region = _text(100)
    postal_code = _text(20)
    graduation_year = ma.fields.Integer(
        allow_none=True, validate=ma.validate.Range(min=1900, max=2200)
    )
    birth_year = ma.fields.Integer(allow_none=True, validate=ma.validate.Range(min=1900, max=2200))
    birth_date = ma.fields.Date(allow_none=True)
    timezone = _text(64, metadata={"description": "an IANA zone such as America/Chicago"})
    locale = _text(16, metadata={"description": "a language tag such as en or es-US"})
    attributes = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.Length(max=40)),
        values=ma.fields.String(validate=ma.validate.Length(max=1000)),
        validate=ma.validate.Length(max=100),
    )
    tags = ma.fields.List(_text(50), validate=ma.validate.Length(max=100))

    @ma.validates("birth_date")
    def _not_in_future(self, value: date | None, **_kwargs: Any) -> None:
        if value is not None and not date(1900, 1, 1) <= value <= today_utc():
            raise ma.ValidationError("must be between 1900-01-01 and today")


class ContactPatchSchema(ContactInSchema):
    """ContactIn for PATCH: every field optional (used with partial=True)."""


class ContactListQuery(PageQuerySchema):
    q = _text(200, metadata={"description": "a whole email address, or the start of a name"})
    role = ma.fields.Enum(ContactRole, by_value=True)
    school = _text(200)
    region = _text(100)
    consent_email = ma.fields.Enum(ConsentStatus, by_value=True)
    updated_since = ma.fields.AwareDateTime(
        metadata={"description": "only contacts changed at or after this time (ISO 8601)"}
    )


class BulkUpsertSchema(ma.Schema):
    # Not an ApiSchema: each item is checked on its own (ContactInSchema), so one bad item
    # is reported in its result instead of refusing the whole batch.
    contacts = ma.fields.List(
        ma.fields.Dict(),
        required=True,
        validate=ma.validate.Length(min=1, max=BULK_LIMIT),
        metadata={"description": f"up to {BULK_LIMIT} contacts (ContactIn), each with an email"},
    )
    update_existing = ma.fields.Boolean(
        load_default=True,
        metadata={"description": "false: contacts whose email exists are left unchanged"},
    )


class BulkItemResultSchema(ma.Schema):
    index = ma.fields.Integer(required=True)
    status = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(["created", "updated", "unchanged", "rejected"]),
        metadata={"enum": ["created", "updated", "unchanged", "rejected"]},
    )
    id = ma.fields.Integer(allow_none=True)
    errors = ma.fields.List(ma.fields.Dict())


class BulkResultSchema(ma.Schema):
    created = ma.fields.Integer(required=True)
    updated = ma.fields.Integer(required=True)
    unchanged = ma.fields.Integer(required=True)
    rejected = ma.fields.Integer(required=True)
    results = ma.fields.List(ma.fields.Nested(BulkItemResultSchema), required=True)


class ConsentSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    channel = ma.fields.Enum(ConsentChannel, by_value=True, required=True)
    status = ma.fields.Enum(ConsentStatus, by_value=True, required=True)
    source = ma.fields.String(required=True)
    recorded_at = ma.fields.DateTime(required=True)


class ConsentInSchema(ApiSchema):
    channel = ma.fields.Enum(ConsentChannel, by_value=True, required=True)
    status = ma.fields.Enum(
        ConsentStatus,
        by_value=True,
        required=True,
        validate=ma.validate.OneOf([ConsentStatus.GRANTED, ConsentStatus.WITHDRAWN]),
    )
    note = _text(120, load_default="", metadata={"description": "how it was given"})


CONTACT_SORTS = SortOrders(
    Contact.id, {"id": Contact.id, "updated_at": Contact.updated_at}, default="-id"
)
CONSENT_SORTS = SortOrders(Consent.id, {"id": Consent.id}, default="-id")


# --- representation ------------------------------------------------------------------------


def _tags_by_contact(ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        rows = db.session.execute(
            select(ContactTag.contact_id, ContactTag.tag)
            .where(ContactTag.contact_id.in_(ids))
            .order_by(ContactTag.tag)
        )
        for contact_id, tag in rows:
            found[contact_id].append(tag)
    return found


def _suppressions_by_hash(hashes: list[str]) -> dict[str, SuppressionReason]:
    found: dict[str, SuppressionReason] = {}
    for start in range(0, len(hashes), 500):
        rows = db.session.execute(
            select(Suppression.address_hash, Suppression.reason).where(
                Suppression.address_hash.in_(hashes[start : start + 500])
            )
        )
        found.update({address_hash: reason for address_hash, reason in rows})
    return found


def _represent(
    contact: Contact, tags: list[str], suppression: SuppressionReason | None
) -> dict[str, Any]:
    return {
        **{
            name: getattr(contact, name)
            for name in ContactSchema().fields
            if hasattr(Contact, name) and name not in ("tags",)
        },
        "age_band": age_band(contact.birth_date_latest, today_utc()),
        "tags": tags,
        "consent": {c.value: contact.consent(c) for c in ConsentChannel},
        "suppressed": suppression,
    }


def represent(contact: Contact) -> dict[str, Any]:
    suppression = suppression_for(db.session, contact) if contact.email else None
    return _represent(
        contact,
        _tags_by_contact([contact.id])[contact.id],
        suppression.reason if suppression else None,
    )


def contact_page_response(page: Page) -> Response:
    """A page of contacts, their tags and suppressions read in one query each."""
    tags = _tags_by_contact([c.id for c in page.items])
    suppressions = _suppressions_by_hash([c.email_hash for c in page.items if c.email_hash])
    represented = Page(
        [_represent(c, tags[c.id], suppressions.get(c.email_hash or "")) for c in page.items],
        page.next_cursor,
    )
    return page_response(ContactSchema(), represented)


def _contact_or_404(contact_id: int, *, for_update: bool = False) -> Contact:
    query = select(Contact).where(Contact.id == contact_id)
    if for_update:
        query = query.with_for_update()
    contact = db.session.scalar(query)
    if contact is None:
        raise ApiProblem(404, f"There is no contact #{contact_id}.")
    return contact


def _contact_response(contact: Contact, status: int = 200) -> Response:
    location = url_for("api_contacts.get_contact", contact_id=contact.id) if status == 201 else None
    return json_response(ContactSchema(), represent(contact), status=status, location=location)


def _field_problem(exc: AudienceError, prefix: str = "") -> ApiProblem:
    field = exc.field if isinstance(exc, ContactFieldError) else "email"
    return ApiProblem(422, str(exc), errors=[FieldError(prefix + field, str(exc))])


def _staff_source() -> str:
    return f"api: {current_api_user().email}"


# --- views ---------------------------------------------------------------------------------


@blp.route("", methods=["GET"])
@api_access(*STAFF)
@blp.arguments(ContactListQuery, location="query")
@blp.response(200, page_schema(ContactSchema, "ContactPage"))
def list_contacts(args: dict[str, Any]):
    """List contacts, newest first by default; filter and page by cursor."""
    where = ContactFilter(
        search=args.get("q", ""),
        role=args.get("role"),
        school=args.get("school", ""),
        region=args.get("region", ""),
        consent_email=args.get("consent_email"),
    )
    query = filtered_contacts(where)
    if args.get("updated_since"):
        query = query.where(Contact.updated_at >= args["updated_since"])
    return contact_page_response(keyset_page(db.session, query, CONTACT_SORTS, args))


@blp.route("", methods=["POST"])
@api_access(*EDITORS)
@blp.arguments(ContactInSchema)
@blp.response(201, ContactSchema)
@idempotent
def create(data: dict[str, Any]):
    """Add a contact. An email, if given, must not belong to another contact (409)."""
    email = data.pop("email", None)
    try:
        if email:
            normalized = normalize_contact_email(email)
            if db.session.scalar(select(Contact.id).where(Contact.email_hash == email_hash(email))):
                raise ApiProblem(
                    409,
                    f"A contact with the email {normalized} already exists.",
                    errors=[FieldError("email", "already used by another contact")],
                )
        contact = create_contact(db.session, email)
        update_contact(db.session, contact, data)
    except AudienceError as exc:
        raise _field_problem(exc) from None
    db.session.commit()
    return _contact_response(contact, 201)


@blp.route("/<id:contact_id>", methods=["GET"])
@api_access(*STAFF)
@blp.response(200, ContactSchema)
def get_contact(contact_id: int):
    """One contact, with its ETag for a later PATCH or DELETE."""
    return _contact_response(_contact_or_404(contact_id))


@blp.route("/<id:contact_id>", methods=["PATCH"])
@api_access(*EDITORS)
@blp.arguments(ContactPatchSchema(partial=True))
@blp.response(200, ContactSchema)
def patch_contact(data: dict[str, Any], contact_id: int):
    """Change the fields sent; needs If-Match with the contact's ETag."""
    contact = _contact_or_404(contact_id, for_update=True)
    require_if_match(ContactSchema().dump(represent(contact)))
    try:
        update_contact(db.session, contact, data)
    except ContactFieldError as exc:
        status = 409 if "already exists" in str(exc) else 422
        raise ApiProblem(status, str(exc), errors=[FieldError(exc.field, str(exc))]) from None
    except AudienceError as exc:
        raise _field_problem(exc) from None
    db.session.commit()
    return _contact_response(contact)


@blp.route("/<id:contact_id>", methods=["DELETE"])
@api_access(*ADMINS_ONLY)
@blp.response(204)
def delete_contact(contact_id: int):
    """Erase a contact (privacy erasure): their address stays suppressed, as a hash only."""
    contact = _contact_or_404(contact_id, for_update=True)
    require_if_match(ContactSchema().dump(represent(contact)))
    erase_contact(db.session, contact, source=f"erased through the API by {_staff_source()}")
    db.session.commit()
    return no_content()


@blp.route("/bulk", methods=["POST"])
@api_access(*EDITORS)
@blp.arguments(BulkUpsertSchema)
@blp.response(200, BulkResultSchema)
@idempotent
def bulk_upsert(data: dict[str, Any]):
    """Create or update up to 10,000 contacts by email, with a result per item.

    Invalid items are rejected with their errors and the valid ones are saved, all in one
    transaction. An email twice in one call: the later item updates what the earlier made.
    """
    schema = ContactInSchema()
    items: list[dict[str, Any] | ContactFieldError] = []
    for item in data["contacts"]:
        try:
            items.append(schema.load(item))
        except ma.ValidationError as exc:
            first = field_errors_from_messages(exc.messages)[0]
            items.append(ContactFieldError(first.field, first.detail))
    results = upsert_contacts(db.session, items, update_existing=data["update_existing"])
    db.session.commit()
    body: dict[str, Any] = {status: 0 for status in BULK_STATUSES}
    body["results"] = []
    for index, result in enumerate(results):
        body[result.status] += 1
        entry: dict[str, Any] = {"index": index, "status": result.status, "id": result.contact_id}
        if result.errors:
            entry["errors"] = [FieldError(e.field, str(e)).as_dict() for e in result.errors]
        body["results"].append(entry)
    return json_response(BulkResultSchema(), body, etag=False)


BULK_STATUSES = ("created", "updated", "unchanged", "rejected")


@blp.route("/<id:contact_id>/consents", methods=["GET"])
@api_access(*STAFF)
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, page_schema(ConsentSchema, "ConsentPage"))
def list_consents(args: dict[str, Any], contact_id: int):
    """The contact's consent history, newest first."""
    _contact_or_404(contact_id)
    query = select(Consent).where(Consent.contact_id == contact_id)
    return page_response(ConsentSchema(), keyset_page(db.session, query, CONSENT_SORTS, args))


@blp.route("/<id:contact_id>/consents", methods=["POST"])
@api_access(*EDITORS)
@blp.arguments(ConsentInSchema)
@blp.response(201, ConsentSchema)
@idempotent
def add_consent(data: dict[str, Any], contact_id: int):
    """Record a consent given or withdrawn (appended to the history)."""
    contact = _contact_or_404(contact_id)
    note = data["note"].strip()
    source = _staff_source() + (f" ({note})" if note else "")
    entry = record_consent(
        db.session, contact, data["channel"], data["status"], source, ip=request.remote_addr
    )
    db.session.commit()
    return json_response(ConsentSchema(), entry, status=201, etag=False)


@blp.route("/<id:contact_id>/unsubscribe", methods=["POST"])
@api_access(*EDITORS)
@blp.response(200, ContactSchema)
@idempotent
def unsubscribe(contact_id: int):
    """Stop all email to the contact now: the address is suppressed, consent withdrawn, and
    a contact.unsubscribed webhook event sent. Unsubscribing twice changes nothing more."""
    contact = _contact_or_404(contact_id)
    unsubscribe_contact(db.session, contact, _staff_source(), ip=request.remote_addr)
    db.session.commit()
    return _contact_response(contact)
