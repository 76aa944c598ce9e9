"""Deterministic made-up audiences: the same seed gives the same contacts, row for row.

Contacts are written with the importer's `bulk_insert` (COPY on PostgreSQL), in batches,
so a million of them take seconds, not the minutes the importer's checks would take; the
`import` benchmark measures the importer itself.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audiences.contacts import email_hash
from audiences.importer import bulk_insert
from audiences.models import ConsentStatus, Contact, ContactRole, ContactTag

FIRST_NAMES = (
    "Ana", "Ben", "Chloe", "Dev", "Elena", "Femi", "Grace", "Hugo", "Isha", "Jamal",
    "Kai", "Lena", "Marco", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq",
)  # fmt: skip
LAST_NAMES = (
    "Garcia", "Nguyen", "Smith", "Okafor", "Kowalski", "Haddad", "Ivanova", "Brown",
    "Martin", "Rossi", "Tanaka", "Lopez", "Silva", "Dubois", "Kim", "Patel",
)  # fmt: skip
REGIONS = ("Midwest", "South", "West", "Northeast")
SCHOOLS = tuple(f"{name} High School" for name in (
    "Lincoln", "Roosevelt", "Jefferson", "Washington", "Franklin", "Madison", "Hamilton",
    "Kennedy", "Monroe", "Adams", "Jackson", "Grant", "Wilson", "Hoover", "Truman", "Carter",
    "Clinton", "Garfield", "Harding", "Polk",
))  # fmt: skip
TIMEZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
# Roughly the demo audience's mix: mostly students, then parents and educators.
ROLES = (
    (ContactRole.STUDENT, 0.55),
    (ContactRole.PARENT, 0.25),
    (ContactRole.EDUCATOR, 0.12),
    (ContactRole.EMPLOYER, 0.05),
    (ContactRole.OTHER, 0.03),
)
TAGS = ("open-house", "scholarship", "mentor", "job-fair")
BATCH = 20_000
CREATED_AT = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def contact_rows(count: int, seed: int, *, start: int = 0) -> Iterator[dict[str, Any]]:
    """`count` contacts as column dicts; every adult, with email consent granted.

    Adults only, so no row is skipped for want of a parent's consent: the benchmarks measure
    sending, not the minors' rules (tests cover those).
    """
    rng = random.Random(seed)  # noqa: S311 - made-up data, repeatable by design
    roles, weights = zip(*ROLES, strict=True)
    for number in range(start, start + count):
        role = rng.choices(roles, weights)[0]
        birth = date(rng.randint(1960, 2006), rng.randint(1, 12), rng.randint(1, 28))
        email = f"person{number}@example.org"
        yield {
            "email": email,
            "email_hash": email_hash(email),
            "phone": "",
            "first_name": rng.choice(FIRST_NAMES),
            "last_name": rng.choice(LAST_NAMES),
            "role": role,
            "school": rng.choice(SCHOOLS),
            "region": rng.choice(REGIONS),
            "postal_code": f"{rng.randint(10000, 99999)}",
            "graduation_year": rng.randint(2020, 2030) if role is ContactRole.STUDENT else None,
            "birth_year": birth.year,
            "birth_date": birth,
            "birth_date_latest": birth,
            "timezone": rng.choice(TIMEZONES),
            "locale": "en",
            "attributes": {"interest": rng.choice(("paint", "frame", "estimating"))},
            "consent_email": ConsentStatus.GRANTED,
            "consent_print": rng.choice((ConsentStatus.GRANTED, ConsentStatus.UNKNOWN)),
            "consent_parental": ConsentStatus.UNKNOWN,
            "import_job_id": None,
            "created_at": CREATED_AT,
            "updated_at": CREATED_AT,
        }


def seed_contacts(session: Session, count: int, seed: int) -> None:
    """Add `count` contacts (and a tag on every fourth) in the session's transaction."""
    rows: list[dict[str, Any]] = []
    first_id = (session.scalar(select(func.max(Contact.id))) or 0) + 1
    for row in contact_rows(count, seed):
        rows.append(row)
        if len(rows) == BATCH:
            _write(session, rows)
            rows = []
    _write(session, rows)
    tags = [
        {"contact_id": contact_id, "tag": TAGS[contact_id % len(TAGS)]}
        for contact_id in range(first_id, first_id + count, 4)
    ]
    for start in range(0, len(tags), BATCH):
        bulk_insert(session, ContactTag.__table__, tags[start : start + BATCH])


def _write(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_insert(session, Contact.__table__, rows)


CSV_HEADER = (
    "email", "first_name", "last_name", "role", "school", "region", "postal_code",
    "graduation_year", "birth_date", "timezone", "email_consent",
)  # fmt: skip


def write_contacts_csv(path: Path, count: int, seed: int) -> None:
    """The CSV a marketer would upload: the same people as `contact_rows`."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(CSV_HEADER)
        for row in contact_rows(count, seed):
            writer.writerow(
                [
                    row["email"],
                    row["first_name"],
                    row["last_name"],
                    row["role"].value,
                    row["school"],
                    row["region"],
                    row["postal_code"],
                    row["graduation_year"] or "",
                    row["birth_date"].isoformat(),
                    row["timezone"],
                    "yes",
                ]
            )
