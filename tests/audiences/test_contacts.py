import json
from datetime import date

import pytest
from email_validator import validate_email
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from audiences.contacts import (
    AudienceError,
    age_band,
    create_contact,
    distinct_values,
    email_hash,
    find_contact_by_email,
    normalize_contact_email,
    record_consent,
)
from audiences.models import (
    AgeBand,
    Consent,
    ConsentChannel,
    ConsentStatus,
    ContactTag,
    ImportReject,
    Suppression,
    SuppressionReason,
)
from audiences.privacy import erase_contact, export_contact_data
from audiences.suppression import is_suppressed, lift_suppression, suppress, suppression_for
from tests.audiences.conftest import add_contact


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("  Ann.Lee@Example.ORG ", "Ann.Lee@example.org"),
        ("o'hara+news@sub.Example.com", "o'hara+news@sub.example.com"),
        ("José@Exämple.org", "José@exämple.org"),  # not the fast path: the full validator's
    ],
)
def test_emails_are_trimmed_with_the_domain_lower_cased(raw, normalized):
    assert normalize_contact_email(raw) == normalized


@pytest.mark.parametrize(
    "raw", ["", "plainaddress", "a@b", "a..b@example.org", "a@example.test", "a@-x.org", "@x.org"]
)
def test_invalid_emails_say_why(raw):
    with pytest.raises(AudienceError, match="not a valid email address"):
        normalize_contact_email(raw)


PLAIN = st.from_regex(
    r"[A-Za-z0-9_%+'-]{1,8}(\.[A-Za-z0-9]{1,4})?@([A-Za-z0-9][A-Za-z0-9-]{0,5}[A-Za-z0-9]\.){1,2}[A-Za-z]{2,6}",
    fullmatch=True,
)


@settings(max_examples=200, derandomize=True)
@given(PLAIN)
def test_the_fast_path_agrees_with_the_full_validator(raw):
    try:
        expected = validate_email(raw, check_deliverability=False).normalized
    except ValueError:
        with pytest.raises(AudienceError):
            normalize_contact_email(raw)
    else:
        assert normalize_contact_email(raw) == expected


def test_email_is_unique_whatever_its_case(db):
    add_contact(db, "ann@example.org")
    with pytest.raises(AudienceError, match="already exists"):
        create_contact(db, "ANN@Example.org")
    assert find_contact_by_email(db, " Ann@EXAMPLE.org").email == "ann@example.org"


@pytest.mark.parametrize(
    ("born", "band"),
    [
        (None, AgeBand.UNKNOWN),
        (date(2013, 3, 2), AgeBand.UNDER_13),
        (date(2013, 3, 1), AgeBand.FROM_13_TO_17),
        (date(2008, 3, 2), AgeBand.FROM_13_TO_17),
        (date(2008, 3, 1), AgeBand.ADULT),
    ],
)
def test_age_band_on_a_day(born, band):
    assert age_band(born, date(2026, 3, 1)) is band


def test_consent_changes_are_kept_as_history(db):
    contact = add_contact(db, "c@example.org", consent_email=ConsentStatus.UNKNOWN)
    record_consent(db, contact, ConsentChannel.EMAIL, ConsentStatus.GRANTED, "form", ip="192.0.2.7")
    record_consent(db, contact, ConsentChannel.EMAIL, ConsentStatus.WITHDRAWN, "phone call")
    db.commit()
    history = db.scalars(
        select(Consent).where(Consent.contact_id == contact.id).order_by(Consent.id)
    )
    assert [(c.status, c.source, c.ip) for c in history] == [
        (ConsentStatus.GRANTED, "form", "192.0.2.7"),
        (ConsentStatus.WITHDRAWN, "phone call", None),
    ]
    assert contact.consent_email is ConsentStatus.WITHDRAWN


def test_suppressing_twice_keeps_the_weightier_reason_and_withdraws_consent(db):
    contact = add_contact(db, "s@example.org")
    suppress(db, contact, SuppressionReason.BOUNCED, "webhook: 550")
    entry = suppress(
        db, "S@EXAMPLE.ORG", SuppressionReason.UNSUBSCRIBED, "one-click", ip="192.0.2.1"
    )
    db.commit()
    assert entry.reason is SuppressionReason.BOUNCED  # an unsubscribe must not hide a bounce
    assert db.scalar(select(func.count()).select_from(Suppression)) == 1
    assert contact.consent_email is ConsentStatus.WITHDRAWN
    assert is_suppressed(db, "s@example.org") and not is_suppressed(db, "t@example.org")
    assert not lift_suppression(db, contact, [SuppressionReason.UNSUBSCRIBED])
    assert lift_suppression(db, contact, [SuppressionReason.BOUNCED])
    assert suppression_for(db, contact) is None
    with pytest.raises(AudienceError, match="not an email address"):
        suppress(db, "nobody", SuppressionReason.MANUAL, "staff")


def test_privacy_export_holds_everything_and_erase_keeps_only_a_hash(db):
    contact = add_contact(
        db, "priv@example.org", first_name="Pat", attributes={"interest": "paint"}
    )
    db.add(ContactTag(contact_id=contact.id, tag="mentor"))
    record_consent(db, contact, ConsentChannel.PRINT, ConsentStatus.GRANTED, "form", ip="192.0.2.9")
    suppress(db, contact, SuppressionReason.MANUAL, "staff: a@example.org")
    db.commit()
    document = export_contact_data(db, contact)
    json.dumps(document)  # JSON-ready as it is
    assert document["contact"]["first_name"] == "Pat"
    assert document["contact"]["attributes"] == {"interest": "paint"}
    assert document["tags"] == ["mentor"]
    assert document["consent_history"][0]["ip"] == "192.0.2.9"
    assert document["suppression"]["reason"] == "manual"

    contact_id = contact.id
    erase_contact(db, contact, source="request")
    db.commit()
    assert db.scalar(select(func.count()).select_from(Consent)) == 0
    assert db.scalar(select(func.count()).select_from(ContactTag)) == 0
    entry = db.scalar(select(Suppression))
    assert (entry.address_hash, entry.email, entry.reason) == (
        email_hash("priv@example.org"),
        None,
        SuppressionReason.ERASED,
    )
    assert find_contact_by_email(db, "priv@example.org") is None
    assert db.get(type(contact), contact_id) is None


def test_erase_removes_the_contacts_rejected_import_rows(db):
    from audiences.models import ImportJob

    contact = add_contact(db, "r@example.org")
    job = ImportJob(filename="f.csv", path="/x", header=["email"])
    db.add(job)
    db.flush()
    db.add(
        ImportReject(
            job_id=job.id,
            line=2,
            reason="bad",
            values=["r@example.org"],
            email_hash=email_hash("r@example.org"),
        )
    )
    db.commit()
    erase_contact(db, contact, source="request")
    db.commit()
    assert db.scalar(select(func.count()).select_from(ImportReject)) == 0


def test_distinct_values_lists_each_school_once_in_order(db):
    for index, school in enumerate(["Riverside", "", "Lincoln High", "Riverside", "Adams"]):
        add_contact(db, f"d{index}@example.org", school=school)
    assert distinct_values(db, "school") == ["Adams", "Lincoln High", "Riverside"]
    assert distinct_values(db, "school", limit=2) == ["Adams", "Lincoln High"]
    assert distinct_values(db, "region") == []
