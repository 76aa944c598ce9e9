"""The audience tables: contacts, their tags and consent history, suppressions, segments, imports.

A few columns are derived and kept up to date by the services that write contacts
(`audiences.contacts`), never set by hand:

- `email_hash`: SHA-256 of the lower-cased address. It makes email unique case-insensitively
  and is the key of the suppression list, which outlives erased contacts.
- `birth_date_latest`: the birth date, or 31 December of the birth year when only the year is
  known. Age rules use it, so an uncertain age always errs towards the younger child.
- `consent_<channel>`: the current consent per channel; `consents` keeps the full history.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from campaign_manager.core.db import Base, StrEnumType, utcnow


class ContactRole(enum.StrEnum):
    STUDENT = "student"
    PARENT = "parent"
    EDUCATOR = "educator"
    EMPLOYER = "employer"
    OTHER = "other"


class ConsentChannel(enum.StrEnum):
    """What a contact can consent to; each has a `consent_<value>` column on contacts."""

    EMAIL = "email"
    # Printed mail addressed to the contact.
    PRINT = "print"
    # A parent or guardian agreed for this child (COPPA: needed below 13 for anything tracked).
    PARENTAL = "parental"


class ConsentStatus(enum.StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"
    UNKNOWN = "unknown"


class AgeBand(enum.StrEnum):
    UNDER_13 = "under_13"
    FROM_13_TO_17 = "13_to_17"
    ADULT = "18_plus"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return {
            "under_13": "Under 13",
            "13_to_17": "13 to 17",
            "18_plus": "18 and over",
            "unknown": "Unknown age",
        }[self.value]


class SuppressionReason(enum.StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    MANUAL = "manual"
    ERASED = "erased"

    @property
    def rank(self) -> int:
        """When an address is suppressed twice, the higher rank is kept: an erased or
        complaining address must not become merely "unsubscribed" (which a click lifts)."""
        return _SUPPRESSION_RANKS[self]


_SUPPRESSION_RANKS = {
    SuppressionReason.UNSUBSCRIBED: 1,
    SuppressionReason.MANUAL: 2,
    SuppressionReason.BOUNCED: 3,
    SuppressionReason.COMPLAINED: 4,
    SuppressionReason.ERASED: 5,
}


class ImportStatus(enum.StrEnum):
    # Uploaded; the columns are not mapped yet (the wizard's second step).
    DRAFT = "draft"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        # Keyset pagination filtered by one of these reads an index range, even on 1M rows.
        Index("ix_contacts_role_id", "role", "id"),
        Index("ix_contacts_school_id", "school", "id"),
        Index("ix_contacts_region_id", "region", "id"),
        # The API lists contacts changed since a time (a CRM's sync), by keyset.
        Index("ix_contacts_updated_at_id", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Trimmed, domain lower-cased; None for contacts reached only by other channels.
    email: Mapped[str | None] = mapped_column(String(320))
    email_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone: Mapped[str] = mapped_column(String(40), default="")
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[ContactRole] = mapped_column(
        StrEnumType(ContactRole, 16), default=ContactRole.OTHER
    )
    # The school or organisation, as a name (schools also exist as Organization rows).
    school: Mapped[str] = mapped_column(String(200), default="")
    region: Mapped[str] = mapped_column(String(100), default="")
    postal_code: Mapped[str] = mapped_column(String(20), default="")
    graduation_year: Mapped[int | None] = mapped_column(index=True)
    birth_year: Mapped[int | None]
    birth_date: Mapped[date | None] = mapped_column(Date)
    birth_date_latest: Mapped[date | None] = mapped_column(Date, index=True)
    # An IANA zone name such as "America/Chicago"; "" when unknown.
    timezone: Mapped[str] = mapped_column(String(64), default="")
    # A language tag such as "en" or "es-US"; "" when unknown.
    locale: Mapped[str] = mapped_column(String(16), default="")
    # Custom attributes: names are [a-z0-9_] identifiers, values are strings.
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    consent_email: Mapped[ConsentStatus] = mapped_column(
        StrEnumType(ConsentStatus, 16), default=ConsentStatus.UNKNOWN
    )
    consent_print: Mapped[ConsentStatus] = mapped_column(
        StrEnumType(ConsentStatus, 16), default=ConsentStatus.UNKNOWN
    )
    consent_parental: Mapped[ConsentStatus] = mapped_column(
        StrEnumType(ConsentStatus, 16), default=ConsentStatus.UNKNOWN
    )
    # The import that created or last updated this contact. It also tells a duplicate row
    # later in the same file from a contact that was already there, in constant memory.
    import_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_jobs.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or (self.email or f"#{self.id}")

    def consent(self, channel: ConsentChannel) -> ConsentStatus:
        return getattr(self, f"consent_{channel.value}")


class ContactTag(Base):
    __tablename__ = "contact_tags"
    __table_args__ = (Index("ix_contact_tags_tag_contact_id", "tag", "contact_id"),)

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(50), primary_key=True)


class Consent(Base):
    """One consent change. Append-only: rows are never updated, only added."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[ConsentChannel] = mapped_column(StrEnumType(ConsentChannel, 16))
    status: Mapped[ConsentStatus] = mapped_column(StrEnumType(ConsentStatus, 16))
    # Who or what recorded it: "import", "unsubscribe link", "staff: ann@example.org", ...
    source: Mapped[str] = mapped_column(String(200))
    ip: Mapped[str | None] = mapped_column(String(45))
    import_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_jobs.id", ondelete="SET NULL")
    )
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Suppression(Base):
    """An address that gets no more mail, by its hash, so it survives erasing the contact."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The address itself, for people reading the list; None once the contact was erased.
    email: Mapped[str | None] = mapped_column(String(320))
    reason: Mapped[SuppressionReason] = mapped_column(StrEnumType(SuppressionReason, 16))
    # Who or what suppressed it: "one-click unsubscribe", "webhook: ses", "staff: ...".
    source: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Segment(Base):
    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stable and unique: creatives key their per-segment variants by it.
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # The rule tree as JSON; see audiences.segments for its grammar.
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Built-in segments (students, parents, educators) cannot be changed or deleted.
    is_builtin: Mapped[bool] = mapped_column(default=False)
    cached_count: Mapped[int | None]
    counted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ImportJob(Base):
    """A CSV import: its file, column mapping, and progress, committed with every batch."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The name the file had when uploaded, and where its bytes are now.
    filename: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(1000))
    # The file's header row, as read when the job was created.
    header: Mapped[list[str]] = mapped_column(JSON, default=list)
    # CSV column name -> contact field ("email", "attributes.interest", ...).
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    update_existing: Mapped[bool] = mapped_column(default=False)
    delimiter: Mapped[str] = mapped_column(String(1), default=",")
    status: Mapped[ImportStatus] = mapped_column(
        StrEnumType(ImportStatus, 16), default=ImportStatus.DRAFT
    )
    total_bytes: Mapped[int] = mapped_column(default=0)
    bytes_done: Mapped[int] = mapped_column(default=0)
    # Data records handled so far (committed); a resumed import skips this many.
    rows_done: Mapped[int] = mapped_column(default=0)
    imported: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The current run: when it started and how many rows were done before it (for the rate).
    started_at: Mapped[datetime | None]
    rows_at_start: Mapped[int] = mapped_column(default=0)
    # Touched with every batch; a "running" job whose heartbeat stopped was interrupted.
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class ImportReject(Base):
    __tablename__ = "import_rejects"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(
        ForeignKey("import_jobs.id", ondelete="CASCADE"), index=True
    )
    # The physical line where the record starts (the header is line 1).
    line: Mapped[int]
    reason: Mapped[str] = mapped_column(String(500))
    # The record's fields as read, so the report can be fixed and imported again.
    values: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Hash of the row's email, if it had one: erasing a contact deletes their rejected rows too.
    email_hash: Mapped[str | None] = mapped_column(String(64), index=True)
