"""Contacts: normalising what identifies them, their age, tags and consent, and finding them."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import Select, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from audiences.models import (
    AgeBand,
    Consent,
    ConsentChannel,
    ConsentStatus,
    Contact,
    ContactRole,
    ContactTag,
)
from campaign_manager.core.accounts import AccountError, normalize_email
from campaign_manager.core.db import utcnow


class AudienceError(ValueError):
    """Bad input to an audience service; the message is safe to show to the user."""


# --- email ---------------------------------------------------------------------------------

# The common shape of an address, checked by a regular expression because the full validator
# costs 25 µs and a 1M-row import cannot spend that per row. Everything this accepts, the full
# validator accepts and normalises the same way (a test checks it); the rest goes to it.
_PLAIN_EMAIL = re.compile(
    r"(?P<local>[A-Za-z0-9_%+'-]+(?:\.[A-Za-z0-9_%+'-]+)*)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
)
_SPECIAL_USE_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})


def normalize_contact_email(raw: str) -> str:
    """Trim and lower-case the domain; raise AudienceError saying why an address is invalid."""
    text = raw.strip()
    match = _PLAIN_EMAIL.fullmatch(text)
    if match:
        local, domain = match.group("local"), match.group("domain").lower()
        if (
            len(local) <= 64
            and len(text) <= 254
            and "--" not in domain
            and domain.rsplit(".", 1)[1] not in _SPECIAL_USE_TLDS
        ):
            return f"{local}@{domain}"
    try:
        return normalize_email(text)
    except AccountError as exc:
        raise AudienceError(str(exc)) from None


def email_hash(email: str) -> str:
    """The suppression key of an address: SHA-256 of it, trimmed and lower-cased."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def find_contact_by_email(session: Session, email: str) -> Contact | None:
    return session.scalar(select(Contact).where(Contact.email_hash == email_hash(email)))


# --- age -----------------------------------------------------------------------------------

CHILD_AGE = 13  # COPPA: below this, nothing tracked without a parent's consent
ADULT_AGE = 18  # below this, no open-tracking pixel


def years_before(today: date, years: int) -> date:
    """The same day `years` years earlier; 29 February becomes the 28th in common years."""
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, day=28)


def latest_birth_date(birth_date: date | None, birth_year: int | None) -> date | None:
    """The latest date the contact can have been born (see `Contact.birth_date_latest`)."""
    if birth_date is not None:
        return birth_date
    if birth_year is not None:
        return date(birth_year, 12, 31)
    return None


def age_band(birth_date_latest: date | None, today: date) -> AgeBand:
    if birth_date_latest is None:
        return AgeBand.UNKNOWN
    if birth_date_latest > years_before(today, CHILD_AGE):
        return AgeBand.UNDER_13
    if birth_date_latest > years_before(today, ADULT_AGE):
        return AgeBand.FROM_13_TO_17
    return AgeBand.ADULT


def may_track_opens(band: AgeBand, role: ContactRole) -> bool:
    """No open pixel for minors; an unknown age counts as a minor for students only."""
    if band is AgeBand.UNKNOWN:
        return role is not ContactRole.STUDENT
    return band is AgeBand.ADULT


# --- fields --------------------------------------------------------------------------------

_TIMEZONES: frozenset[str] | None = None
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")
_TAG = re.compile(r"[\w][\w .:/&+-]{0,49}")
ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
ROLE_SYNONYMS = {
    "teacher": ContactRole.EDUCATOR,
    "counselor": ContactRole.EDUCATOR,
    "counsellor": ContactRole.EDUCATOR,
    "guardian": ContactRole.PARENT,
    "pupil": ContactRole.STUDENT,
}


_ROLES_BY_NAME = (
    {role.value: role for role in ContactRole} | ROLE_SYNONYMS | {"": ContactRole.OTHER}
)


def parse_contact_role(raw: str) -> ContactRole:
    role = _ROLES_BY_NAME.get(raw.strip().lower())
    if role is None:
        valid = ", ".join(r.value for r in ContactRole)
        raise AudienceError(f"unknown role '{raw.strip()}'; use one of: {valid}")
    return role


def check_timezone(raw: str) -> str:
    global _TIMEZONES
    text = raw.strip()
    if not text:
        return ""
    if _TIMEZONES is None:
        _TIMEZONES = frozenset(available_timezones())
    if text not in _TIMEZONES:
        raise AudienceError(f"unknown time zone '{text}'; use a name such as America/Chicago")
    return text


def check_locale(raw: str) -> str:
    text = raw.strip()
    if text and not _LOCALE.fullmatch(text):
        raise AudienceError(f"'{text}' is not a language tag such as en or es-US")
    return text.replace("_", "-")


def normalize_tag(raw: str) -> str:
    tag = " ".join(raw.split()).lower()
    if not _TAG.fullmatch(tag):
        raise AudienceError(
            f"'{raw.strip()}' is not a usable tag: up to 50 letters, digits, spaces or . : / & + -"
        )
    return tag


def check_attribute_name(raw: str) -> str:
    name = raw.strip().lower()
    if not ATTRIBUTE_NAME.fullmatch(name):
        raise AudienceError(
            f"'{raw}' is not a usable attribute name: a lower-case letter, then up to 39 "
            "lower-case letters, digits or underscores"
        )
    return name


# --- tags and consent ----------------------------------------------------------------------


def tags_of(session: Session, contact_id: int) -> list[str]:
    return list(
        session.scalars(
            select(ContactTag.tag).where(ContactTag.contact_id == contact_id).order_by("tag")
        )
    )


def set_tags(session: Session, contact: Contact, tags: Iterable[str]) -> list[str]:
    wanted = sorted({normalize_tag(t) for t in tags if t.strip()})
    session.execute(delete(ContactTag).where(ContactTag.contact_id == contact.id))
    session.add_all(ContactTag(contact_id=contact.id, tag=tag) for tag in wanted)
    session.flush()
    return wanted


def record_consent(
    session: Session,
    contact: Contact,
    channel: ConsentChannel,
    status: ConsentStatus,
    source: str,
    *,
    ip: str | None = None,
    import_job_id: int | None = None,
) -> Consent:
    """Append a consent change to the history and make it the contact's current state."""
    entry = Consent(
        contact_id=contact.id,
        channel=channel,
        status=status,
        source=source[:200],
        ip=ip,
        import_job_id=import_job_id,
        recorded_at=utcnow(),
    )
    setattr(contact, f"consent_{channel.value}", status)
    session.add(entry)
    session.flush()
    return entry


def consent_history(session: Session, contact_id: int) -> Sequence[Consent]:
    return session.scalars(
        select(Consent)
        .where(Consent.contact_id == contact_id)
        .order_by(Consent.recorded_at.desc(), Consent.id.desc())
    ).all()


# --- creating and listing ------------------------------------------------------------------


def create_contact(
    session: Session,
    email: str | None,
    *,
    role: ContactRole = ContactRole.OTHER,
    first_name: str = "",
    last_name: str = "",
    school: str = "",
    region: str = "",
    birth_date: date | None = None,
    birth_year: int | None = None,
    **fields: object,
) -> Contact:
    """Add one contact (the importer adds many at once without this)."""
    normalized = normalize_contact_email(email) if email else None
    if normalized and find_contact_by_email(session, normalized):
        raise AudienceError(f"a contact with the email {normalized} already exists")
    if birth_date is not None:
        birth_year = birth_date.year
    contact = Contact(
        email=normalized,
        email_hash=email_hash(normalized) if normalized else None,
        role=role,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        school=school.strip(),
        region=region.strip(),
        birth_date=birth_date,
        birth_year=birth_year,
        birth_date_latest=latest_birth_date(birth_date, birth_year),
        **fields,
    )
    session.add(contact)
    session.flush()
    return contact


@dataclass(frozen=True)
class ContactFilter:
    """What the contacts list is narrowed to; empty values mean "any"."""

    search: str = ""
    role: ContactRole | None = None
    school: str = ""
    region: str = ""
    consent_email: ConsentStatus | None = None


@dataclass(frozen=True)
class ContactPage:
    contacts: Sequence[Contact]
    # Pass as `before_id` for the next page; None on the last page.
    next_before_id: int | None


def filtered_contacts(where: ContactFilter) -> Select[tuple[Contact]]:
    query = select(Contact)
    if where.role is not None:
        query = query.where(Contact.role == where.role)
    if where.school:
        query = query.where(Contact.school == where.school)
    if where.region:
        query = query.where(Contact.region == where.region)
    if where.consent_email is not None:
        query = query.where(Contact.consent_email == where.consent_email)
    text = where.search.strip()
    if "@" in text and " " not in text:
        # A whole address: the indexed hash finds it among millions at once.
        query = query.where(Contact.email_hash == email_hash(text))
    elif text:
        pattern = text.lower()
        query = query.where(
            or_(
                func.lower(Contact.last_name).startswith(pattern, autoescape=True),
                func.lower(Contact.first_name).startswith(pattern, autoescape=True),
                func.lower(Contact.email).startswith(pattern, autoescape=True),
            )
        )
    return query


def list_contacts(
    session: Session, where: ContactFilter, *, before_id: int | None = None, limit: int = 50
) -> ContactPage:
    """Newest first, by keyset: a page costs the same at the end of 1M rows as at the start."""
    query = filtered_contacts(where).order_by(Contact.id.desc()).limit(limit + 1)
    if before_id is not None:
        query = query.where(Contact.id < before_id)
    rows = session.scalars(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return ContactPage(contacts=rows, next_before_id=rows[-1].id if more else None)


def distinct_values(session: Session, column_name: str, limit: int = 500) -> list[str]:
    """Values of `school` or `region` for filter pick-lists, in order.

    A recursive query hops from one value to the next through the column's index (a "skip
    scan"): a few hundred index look-ups, where GROUP BY would read all of 1M rows.
    """
    column = {"school": Contact.school, "region": Contact.region}[column_name]
    values = select(func.min(column).label("value")).where(column > "").cte(recursive=True)
    following = (
        select(select(func.min(column)).where(column > values.c.value).scalar_subquery())
        .select_from(values)
        .where(values.c.value.is_not(None))
    )
    values = values.union_all(following)
    return list(
        session.scalars(select(values.c.value).where(values.c.value.is_not(None)).limit(limit))
    )


# --- changing --------------------------------------------------------------------------------


class ContactFieldError(AudienceError):
    """A contact field's value is unusable; `field` names it, as the API and forms do."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# The fields `update_contact` changes; consent has its own history (record_consent).
EDITABLE_FIELDS = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "role",
    "school",
    "region",
    "postal_code",
    "graduation_year",
    "birth_year",
    "birth_date",
    "timezone",
    "locale",
    "attributes",
    "tags",
)
_TEXT_FIELDS = ("phone", "first_name", "last_name", "school", "region", "postal_code")


def _checked(field: str, check: Callable[[str], str], value: str) -> str:
    try:
        return check(value)
    except AudienceError as exc:
        raise ContactFieldError(field, str(exc)) from None


def clean_contact_fields(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Check and normalise field values without the database; ContactFieldError if unusable.

    Values are assumed to have the right Python types (the caller's form or schema checks
    those): this checks what needs a list of known values or a rule of our own.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ContactFieldError(sorted(unknown)[0], "this field cannot be changed")
    cleaned = dict(changes)
    if "email" in changes:
        raw = changes["email"]
        cleaned["email"] = _checked("email", normalize_contact_email, raw) if raw else None
    for name in _TEXT_FIELDS:
        if name in changes:
            cleaned[name] = (changes[name] or "").strip()
    if "role" in changes and not isinstance(changes["role"], ContactRole):
        cleaned["role"] = _checked("role", parse_contact_role, changes["role"])  # type: ignore[arg-type]
    if "timezone" in changes:
        cleaned["timezone"] = _checked("timezone", check_timezone, changes["timezone"] or "")
    if "locale" in changes:
        cleaned["locale"] = _checked("locale", check_locale, changes["locale"] or "")
    birth_date, birth_year = changes.get("birth_date"), changes.get("birth_year")
    if birth_date is not None and birth_year is not None and birth_year != birth_date.year:
        raise ContactFieldError("birth_year", "differs from the year of birth_date")
    if "attributes" in changes:
        cleaned["attributes"] = {
            _checked(f"attributes.{name}", check_attribute_name, name): (
                "" if value is None else str(value)
            )
            for name, value in (changes["attributes"] or {}).items()
        }
    if "tags" in changes:
        cleaned["tags"] = sorted(
            {_checked("tags", normalize_tag, t) for t in changes["tags"] or [] if t.strip()}
        )
    return cleaned


def _apply_cleaned(contact: Contact, cleaned: Mapping[str, Any]) -> None:
    """Set cleaned values (not tags) and the derived columns; no database access."""
    if "email" in cleaned:
        contact.email = cleaned["email"]
        contact.email_hash = email_hash(cleaned["email"]) if cleaned["email"] else None
    for name in (*_TEXT_FIELDS, "role", "graduation_year", "timezone", "locale", "attributes"):
        if name in cleaned:
            setattr(contact, name, cleaned[name])
    if "birth_date" in cleaned or "birth_year" in cleaned:
        birth_date = cleaned.get("birth_date", contact.birth_date)
        birth_year = cleaned.get("birth_year", contact.birth_year)
        if "birth_date" in cleaned and birth_date is None and "birth_year" not in cleaned:
            birth_year = None  # clearing the date clears the year it implied
        if birth_date is not None:
            birth_year = birth_date.year
        contact.birth_date, contact.birth_year = birth_date, birth_year
        contact.birth_date_latest = latest_birth_date(birth_date, birth_year)
    contact.updated_at = utcnow()


def update_contact(session: Session, contact: Contact, changes: Mapping[str, Any]) -> Contact:
    """Change the given fields (the others stay), keeping the derived columns right.

    Raises ContactFieldError naming the field when a value is unusable or the email belongs
    to another contact. The caller commits.
    """
    cleaned = clean_contact_fields(changes)
    email = cleaned.get("email")
    if email and email_hash(email) != contact.email_hash:
        other = session.scalar(select(Contact.id).where(Contact.email_hash == email_hash(email)))
        if other is not None and other != contact.id:
            raise ContactFieldError("email", f"a contact with the email {email} already exists")
    _apply_cleaned(contact, cleaned)
    session.flush()
    if "tags" in cleaned:
        set_tags(session, contact, cleaned["tags"])
    return contact


@dataclass(frozen=True)
class UpsertResult:
    """What became of one item of `upsert_contacts`: created, updated, unchanged, rejected."""

    status: str
    contact_id: int | None = None
    errors: tuple[ContactFieldError, ...] = ()


def upsert_contacts(
    session: Session,
    items: Sequence[Mapping[str, Any] | ContactFieldError],
    *,
    update_existing: bool = True,
) -> list[UpsertResult]:
    """Create or update many contacts by email in one transaction, with a result per item.

    Each item is a mapping of fields with an "email", or a ContactFieldError the caller
    found already (it is reported as rejected). An email twice: the later item updates the
    contact the earlier one made. Rejected items write nothing; the caller commits.
    Contacts are written in bulk (no savepoint or query per item), so 10,000 take seconds.
    """
    results: list[UpsertResult | None] = [None] * len(items)
    cleaned_items: list[tuple[int, dict[str, Any]]] = []
    for index, item in enumerate(items):
        if isinstance(item, ContactFieldError):
            results[index] = UpsertResult("rejected", errors=(item,))
            continue
        try:
            cleaned = clean_contact_fields(item)
            if not cleaned.get("email"):
                raise ContactFieldError("email", "every item needs an email to match on")
        except ContactFieldError as exc:
            results[index] = UpsertResult("rejected", errors=(exc,))
            continue
        cleaned_items.append((index, cleaned))

    hashes = sorted({email_hash(c["email"]) for _, c in cleaned_items})
    existing: dict[str, Contact] = {}
    for start in range(0, len(hashes), 500):
        chunk = hashes[start : start + 500]
        for contact in session.scalars(select(Contact).where(Contact.email_hash.in_(chunk))):
            existing[contact.email_hash or ""] = contact
    created: set[str] = set()
    tags_for: dict[str, list[str]] = {}
    for index, cleaned in cleaned_items:
        key = email_hash(cleaned["email"])
        contact = existing.get(key)
        if contact is None:
            contact = Contact(role=ContactRole.OTHER, attributes={})
            session.add(contact)
            existing[key] = contact
            created.add(key)
            status = "created"
        elif not update_existing and key not in created:
            results[index] = UpsertResult("unchanged")
            continue
        else:
            status = "updated"
        _apply_cleaned(contact, cleaned)
        if "tags" in cleaned:
            tags_for[key] = cleaned["tags"]
        results[index] = UpsertResult(status)
    session.flush()

    tagged = {existing[key].id: tags for key, tags in tags_for.items()}
    ids = sorted(tagged)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        session.execute(delete(ContactTag).where(ContactTag.contact_id.in_(chunk)))
    rows = [{"contact_id": cid, "tag": tag} for cid, tags in tagged.items() for tag in tags]
    if rows:
        session.execute(insert(ContactTag), rows)

    final: list[UpsertResult] = []
    keys_by_index = {index: email_hash(c["email"]) for index, c in cleaned_items}
    for index, result in enumerate(results):
        assert result is not None
        if result.status in ("created", "updated", "unchanged"):
            result = UpsertResult(result.status, existing[keys_by_index[index]].id)
        final.append(result)
    return final
