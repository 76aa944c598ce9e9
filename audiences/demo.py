"""Demo audience: about 5,000 synthetic contacts around 20 schools, the same on every run.

Students, parents, educators and employers across several regions and US time zones, with
some children under 13 (with and without a parent's consent), some unsubscribed and some
bounced addresses, so every rule of the delivery engine has someone to apply to. Ages are
relative to `today`, so the children stay children whenever the demo is loaded.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from audiences.contacts import age_band, email_hash, latest_birth_date
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
from audiences.segments import create_segment, ensure_builtin_segments
from campaign_manager.core.accounts import Organization, OrganizationKind

# (school, region, postal code prefix, time zone)
SCHOOLS = (
    ("Lincoln High School", "Ohio", "432", "America/New_York"),
    ("Washington Career Academy", "Ohio", "441", "America/New_York"),
    ("Lakeview Technical Center", "Michigan", "482", "America/Detroit"),
    ("Grand River Vocational School", "Michigan", "495", "America/Detroit"),
    ("Prairie View High School", "Illinois", "606", "America/Chicago"),
    ("Riverside Technical Institute", "Illinois", "617", "America/Chicago"),
    ("Heartland Career Center", "Indiana", "462", "America/Indiana/Indianapolis"),
    ("Lone Star Automotive Academy", "Texas", "750", "America/Chicago"),
    ("Gulf Coast High School", "Texas", "770", "America/Chicago"),
    ("Peachtree Technical College", "Georgia", "303", "America/New_York"),
    ("Magnolia High School", "Georgia", "314", "America/New_York"),
    ("Front Range Career Campus", "Colorado", "802", "America/Denver"),
    ("Desert Sun Technical High", "Arizona", "850", "America/Phoenix"),
    ("Cascade Collision Academy", "Washington", "981", "America/Los_Angeles"),
    ("Golden State Technical High", "California", "900", "America/Los_Angeles"),
    ("Bay Area Trades Academy", "California", "946", "America/Los_Angeles"),
    ("Keystone Vocational School", "Pennsylvania", "171", "America/New_York"),
    ("Empire State Technical High", "New York", "122", "America/New_York"),
    ("Aloha Career Academy", "Hawaii", "968", "Pacific/Honolulu"),
    ("Northern Lights High School", "Alaska", "995", "America/Anchorage"),
)
FIRST_NAMES = (  # noqa: SIM905 - a word list reads better as one string
    "Ava Liam Mia Noah Zoe Eli Maya Leo Aria Ezra Luna Owen Ivy Jack Nora Luca Ruby Kai "
    "Sofia Mateo Amara Diego Priya Arjun Mei Hiro Fatima Omar Grace Daniel Chloe Wyatt Layla "
    "Caleb"
).split()
LAST_NAMES = (  # noqa: SIM905 - a word list reads better as one string
    "Smith Johnson Garcia Martinez Lee Nguyen Patel Brown Davis Lopez Wilson Anderson Thomas "
    "Taylor Moore Jackson Martin White Harris Clark Lewis Robinson Walker Young Allen King "
    "Wright Scott Torres Hill Green Adams Baker Nelson Carter Mitchell Perez Roberts Kim"
).split()
INTERESTS = ("painting", "structural repair", "estimating", "mechanical", "detailing")
ROLE_MIX = (
    (ContactRole.STUDENT, 55),
    (ContactRole.PARENT, 25),
    (ContactRole.EDUCATOR, 12),
    (ContactRole.EMPLOYER, 8),
)
DOMAINS = ("example.org", "example.com", "example.net")


@dataclass(frozen=True)
class DemoAudience:
    schools: list[Organization]
    contacts: int


def _birth_date(rng: random.Random, today: date, min_age: int, max_age: int) -> date:
    days = rng.randint(min_age * 365 + 1, max_age * 365 + 364)
    return today - timedelta(days=days)


def load_demo_audience(
    session: Session, *, count: int = 5000, today: date | None = None, seed: int = 2026
) -> DemoAudience:
    rng = random.Random(seed)  # noqa: S311 - reproducible fake people, not secrets
    today = today or datetime.now(UTC).date()
    now = datetime.now(UTC)
    ensure_builtin_segments(session)
    schools = [
        Organization(name=name, kind=OrganizationKind.SCHOOL, region=region)
        for name, region, _zip, _tz in SCHOOLS
    ]
    session.add_all(schools)

    roles = [role for role, weight in ROLE_MIX for _ in range(weight)]
    contacts: list[dict[str, Any]] = []
    extras: list[dict[str, Any]] = []  # per contact: tags, suppression, consent history
    for index in range(count):
        role = rng.choice(roles)
        school, region, zip_prefix, timezone = rng.choice(SCHOOLS)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first.lower()}.{last.lower()}{index}@{DOMAINS[index % len(DOMAINS)]}"
        birth_date: date | None = None
        birth_year: int | None = None
        graduation_year = None
        attributes: dict[str, str] = {}
        tags = []
        if role is ContactRole.STUDENT:
            # One in eight is under 13: middle-school career days reach them too.
            birth_date = _birth_date(rng, today, *((11, 12) if rng.random() < 0.125 else (13, 18)))
            graduation_year = birth_date.year + 18
            attributes["interest"] = rng.choice(INTERESTS)
            if rng.random() < 0.3:
                tags.append("career fair 2026")
            if rng.random() < 0.2:
                tags.append("scholarship interest")
        elif role is ContactRole.PARENT:
            birth_year = today.year - rng.randint(33, 58)
        elif role is ContactRole.EDUCATOR:
            birth_year = today.year - rng.randint(25, 65) if rng.random() < 0.7 else None
            if rng.random() < 0.25:
                tags.append("mentor volunteer")
        else:
            school = rng.choice(("Precision Collision Centers", "Lakeside Auto Body"))
            attributes["shop_size"] = rng.choice(("1-10", "11-50", "51+"))
            if rng.random() < 0.4:
                tags.append("mentor volunteer")
        under_13 = age_band(birth_date, today) is AgeBand.UNDER_13
        consents = {
            ConsentChannel.EMAIL: rng.choices(
                (ConsentStatus.GRANTED, ConsentStatus.WITHDRAWN, ConsentStatus.UNKNOWN),
                (85, 5, 10),
            )[0],
            ConsentChannel.PRINT: ConsentStatus.GRANTED
            if rng.random() < 0.4
            else ConsentStatus.UNKNOWN,
        }
        if under_13 and rng.random() < 0.5:
            consents[ConsentChannel.PARENTAL] = ConsentStatus.GRANTED
        suppression = None
        roll = rng.random()
        if roll < 0.03:
            suppression = SuppressionReason.UNSUBSCRIBED
            consents[ConsentChannel.EMAIL] = ConsentStatus.WITHDRAWN
        elif roll < 0.05:
            suppression = SuppressionReason.BOUNCED
        contacts.append(
            {
                "email": email,
                "email_hash": email_hash(email),
                "phone": f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
                "first_name": first,
                "last_name": last,
                "role": role,
                "school": school,
                "region": region,
                "postal_code": f"{zip_prefix}{rng.randint(10, 99)}",
                "graduation_year": graduation_year,
                "birth_year": birth_date.year if birth_date else birth_year,
                "birth_date": birth_date,
                "birth_date_latest": latest_birth_date(birth_date, birth_year),
                "timezone": timezone,
                "locale": "es-US" if rng.random() < 0.15 else "en-US",
                "attributes": attributes,
                "consent_email": consents[ConsentChannel.EMAIL],
                "consent_print": consents[ConsentChannel.PRINT],
                "consent_parental": consents.get(ConsentChannel.PARENTAL, ConsentStatus.UNKNOWN),
                "created_at": now - timedelta(days=rng.randint(1, 400)),
                "updated_at": now,
            }
        )
        extras.append({"tags": tags, "suppression": suppression, "consents": consents})

    result = session.execute(
        insert(Contact.__table__).returning(Contact.id, Contact.email_hash), contacts
    )
    ids = {row.email_hash: row.id for row in result}
    consent_rows, tag_rows, suppression_rows = [], [], []
    for contact, extra in zip(contacts, extras, strict=True):
        contact_id = ids[contact["email_hash"]]
        signed_up = contact["created_at"]
        for channel, status in extra["consents"].items():
            if status is ConsentStatus.UNKNOWN:
                continue
            consent_rows.append(
                {
                    "contact_id": contact_id,
                    "channel": channel,
                    "status": ConsentStatus.GRANTED,
                    "source": f"sign-up form, {contact['school']} career night",
                    "ip": f"198.51.100.{contact_id % 250 + 1}",
                    "import_job_id": None,
                    "recorded_at": signed_up,
                }
            )
            if status is ConsentStatus.WITHDRAWN:
                consent_rows.append(
                    {
                        **consent_rows[-1],
                        "status": status,
                        "source": "one-click unsubscribe"
                        if extra["suppression"]
                        else "reply to a newsletter",
                        "recorded_at": signed_up + timedelta(days=30),
                    }
                )
        tag_rows.extend({"contact_id": contact_id, "tag": tag} for tag in extra["tags"])
        if extra["suppression"]:
            suppression_rows.append(
                {
                    "address_hash": contact["email_hash"],
                    "email": contact["email"],
                    "reason": extra["suppression"],
                    "source": "one-click unsubscribe"
                    if extra["suppression"] is SuppressionReason.UNSUBSCRIBED
                    else "bounce webhook (550 mailbox unavailable)",
                    "created_at": signed_up + timedelta(days=30),
                }
            )
    for table, rows in (
        (Consent, consent_rows),
        (ContactTag, tag_rows),
        (Suppression, suppression_rows),
    ):
        if rows:
            session.execute(insert(table), rows)

    for name, rules, description in DEMO_SEGMENTS:
        create_segment(session, name, rules, description=description)
    session.flush()
    return DemoAudience(schools=schools, contacts=count)


DEMO_SEGMENTS = (
    (
        "Ohio teens with email consent",
        {
            "type": "all",
            "rules": [
                {"type": "field", "field": "region", "op": "equals", "value": "Ohio"},
                {"type": "age_band", "bands": ["13_to_17"]},
                {"type": "consent", "channel": "email", "status": "granted"},
            ],
        },
        "Students aged 13 to 17 in Ohio who agreed to email: the spring scholarship push.",
    ),
    (
        "Future painters",
        {
            "type": "all",
            "rules": [
                {"type": "segment", "slug": "students"},
                {"type": "attribute", "name": "interest", "op": "equals", "value": "painting"},
            ],
        },
        "Students interested in refinishing and painting.",
    ),
    (
        "Mentors",
        {
            "type": "any",
            "rules": [
                {"type": "tag", "tag": "mentor volunteer"},
                {
                    "type": "all",
                    "rules": [
                        {"type": "field", "field": "role", "op": "equals", "value": "employer"},
                        {
                            "type": "not",
                            "rule": {"type": "field", "field": "school", "op": "is_empty"},
                        },
                    ],
                },
            ],
        },
        "Educators and employers who volunteered to mentor, and every employer.",
    ),
)
