from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from campaign_manager.core.accounts import (
    AccountError,
    Role,
    ThrottlePolicy,
    User,
    authenticate,
    create_user,
    create_vendor,
)
from campaign_manager.core.db import utcnow

PASSWORD = "correct-horse-battery"


def test_passwords_are_stored_as_argon2_hashes(db):
    user = create_user(db, "Someone@Example.ORG", PASSWORD, Role.MARKETER)
    db.commit()
    assert user.email == "Someone@example.org"
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_email_is_unique_case_insensitively(db):
    create_user(db, "a@example.org", PASSWORD, Role.VIEWER)
    with pytest.raises(AccountError, match="already exists"):
        create_user(db, "A@EXAMPLE.org", PASSWORD, "viewer")


@pytest.mark.parametrize(
    ("email", "password", "role", "message"),
    [
        ("not-an-email", PASSWORD, "viewer", "not a valid email"),
        ("a@example.org", "short", "viewer", "at least 10"),
        (
            "a@example.org",
            PASSWORD,
            "boss",
            "valid roles are: admin, marketer, approver, viewer, vendor",
        ),
        ("a@example.org", PASSWORD, "vendor", "must belong to a vendor"),
    ],
)
def test_create_user_rejects_bad_input(db, email, password, role, message):
    with pytest.raises(AccountError, match=message):
        create_user(db, email, password, role)
    assert db.query(User).count() == 0


def test_vendor_role_and_vendor_company_go_together_in_the_database(db):
    vendor = create_vendor(db, "Print Co", "jobs@example.org")
    with pytest.raises(AccountError):
        create_user(db, "m@example.org", PASSWORD, Role.MARKETER, vendor=vendor)
    # Even past the service, the database itself refuses the combination.
    db.add(User(email="x@example.org", password_hash="x", role=Role.MARKETER, vendor_id=vendor.id))
    with pytest.raises(IntegrityError):
        db.flush()


def test_sign_in_slows_down_then_locks(db):
    create_user(db, "m@example.org", PASSWORD, Role.MARKETER)
    db.commit()
    policy = ThrottlePolicy(slowdown_after=2, lockout_after=4, lockout=timedelta(minutes=15))
    now = utcnow()

    assert (
        authenticate(db, "m@example.org", "wrong", policy, now).message
        == "Wrong email or password."
    )
    assert not authenticate(db, "m@example.org", "wrong", policy, now).wait_seconds
    # Two failures: the next attempt must wait, even with the right password.
    waiting = authenticate(db, "m@example.org", PASSWORD, policy, now + timedelta(seconds=1))
    assert not waiting.ok and waiting.wait_seconds > 0 and "Wait" in waiting.message

    later = now + timedelta(seconds=10)
    authenticate(db, "m@example.org", "wrong", policy, later)
    locked = authenticate(db, "m@example.org", "wrong", policy, later + timedelta(seconds=30))
    assert locked.locked and "locked after 4 failed sign-ins" in locked.message

    still_locked = authenticate(db, "m@example.org", PASSWORD, policy, later + timedelta(minutes=5))
    assert not still_locked.ok and still_locked.locked and "minute" in still_locked.message

    after = authenticate(db, "m@example.org", PASSWORD, policy, later + timedelta(minutes=16))
    assert after.ok


def test_unknown_addresses_are_throttled_too(db):
    policy = ThrottlePolicy(slowdown_after=1, lockout_after=2)
    now = utcnow()
    authenticate(db, "ghost@example.org", "x", policy, now)
    result = authenticate(db, "ghost@example.org", "x", policy, now + timedelta(seconds=5))
    assert result.locked


def test_disabled_user_cannot_sign_in(db):
    user = create_user(db, "d@example.org", PASSWORD, Role.VIEWER)
    user.is_active = False
    db.commit()
    result = authenticate(db, "d@example.org", PASSWORD, ThrottlePolicy())
    assert not result.ok and "disabled" in result.message
