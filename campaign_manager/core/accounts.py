"""Users, roles, vendor companies, the coalition's organisations, and sign-in throttling."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import CheckConstraint, ForeignKey, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from campaign_manager.core.db import Base, StrEnumType, utcnow
from campaign_manager.core.security import (
    hash_password,
    password_needs_rehash,
    password_problem,
    verify_password,
)


class Role(enum.StrEnum):
    ADMIN = "admin"
    MARKETER = "marketer"
    APPROVER = "approver"
    VIEWER = "viewer"
    VENDOR = "vendor"


class OrganizationKind(enum.StrEnum):
    COALITION = "coalition"
    MEMBER = "member"
    SCHOOL = "school"
    EMPLOYER = "employer"
    PARTNER = "partner"


class AccountError(ValueError):
    """Bad input to an account service; the message is safe to show to the user."""


class Vendor(Base):
    """A print company; its users see only its own print jobs."""

    __tablename__ = "vendors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Where "a print job is ready" notices go.
    contact_email: Mapped[str] = mapped_column(String(320))
    postal_address: Mapped[str] = mapped_column(Text, default="")
    # Some vendors want crop marks drawn on the page; most want clean PDF boxes only.
    wants_crop_marks: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="vendor")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "(role = 'vendor') = (vendor_id IS NOT NULL)", name="vendor_role_has_vendor"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(StrEnumType(Role, 16))
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id"))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Part of every signed session cookie: raising it (sign-out, a new password) makes every
    # cookie issued before worthless, even a copy taken before the sign-out.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")

    vendor: Mapped[Vendor | None] = relationship(back_populates="users")

    # What flask-login asks of a user object; kept here because they are plain facts.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}.{self.session_generation}"

    def end_sessions(self) -> None:
        """Sign this user out everywhere: every session cookie issued so far stops working."""
        self.session_generation += 1

    @property
    def name(self) -> str:
        return self.display_name or self.email


class Organization(Base):
    """A coalition member, school, employer or partner; co-branding draws on these."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[OrganizationKind] = mapped_column(StrEnumType(OrganizationKind, 16))
    website: Mapped[str] = mapped_column(String(500), default="")
    region: Mapped[str] = mapped_column(String(100), default="")
    postal_address: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginThrottle(Base):
    """Failed sign-ins per email address, known or not, so attackers learn nothing."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]


def normalize_email(raw: str) -> str:
    """Trim and lower-case the domain; raise AccountError with a readable reason if invalid."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise AccountError(f"'{raw.strip()}' is not a valid email address: {exc}") from None
    return result.normalized


def parse_role(raw: str) -> Role:
    try:
        return Role(raw.strip().lower())
    except ValueError:
        valid = ", ".join(r.value for r in Role)
        raise AccountError(f"unknown role '{raw}'; valid roles are: {valid}") from None


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def create_user(
    session: Session,
    email: str,
    password: str,
    role: Role | str,
    *,
    vendor: Vendor | None = None,
    display_name: str = "",
) -> User:
    role = role if isinstance(role, Role) else parse_role(role)
    email = normalize_email(email)
    problem = password_problem(password)
    if problem:
        raise AccountError(problem)
    if find_user_by_email(session, email):
        raise AccountError(f"a user with the email {email} already exists")
    if role is Role.VENDOR and vendor is None:
        raise AccountError("a vendor user must belong to a vendor company")
    if role is not Role.VENDOR and vendor is not None:
        raise AccountError("only users with the vendor role belong to a vendor company")
    user = User(
        email=email,
        password_hash=hash_password(password),
        role=role,
        vendor=vendor,
        display_name=display_name.strip(),
    )
    session.add(user)
    session.flush()
    return user


def set_password(user: User, new_password: str) -> None:
    problem = password_problem(new_password)
    if problem:
        raise AccountError(problem)
    user.password_hash = hash_password(new_password)
    # Whoever may have had the old password may also hold a session: end them all.
    user.end_sessions()


def find_vendor_by_name(session: Session, name: str) -> Vendor | None:
    return session.scalar(select(Vendor).where(func.lower(Vendor.name) == name.strip().lower()))


def create_vendor(
    session: Session, name: str, contact_email: str, postal_address: str = ""
) -> Vendor:
    name = name.strip()
    if not name:
        raise AccountError("a vendor needs a name")
    if find_vendor_by_name(session, name):
        raise AccountError(f"a vendor named {name} already exists")
    vendor = Vendor(
        name=name, contact_email=normalize_email(contact_email), postal_address=postal_address
    )
    session.add(vendor)
    session.flush()
    return vendor


@dataclass(frozen=True)
class ThrottlePolicy:
    slowdown_after: int = 3
    lockout_after: int = 6
    lockout: timedelta = timedelta(minutes=15)

    def delay_after(self, failures: int) -> timedelta:
        """The wait imposed after this many failures: nothing, then doubling from 2 s."""
        if failures < self.slowdown_after:
            return timedelta(0)
        return timedelta(seconds=2 ** (failures - self.slowdown_after + 1))


@dataclass(frozen=True)
class SignInResult:
    user: User | None = None
    # Set when the attempt was refused before the password was even checked.
    wait_seconds: int = 0
    locked: bool = False
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.user is not None


def authenticate(
    session: Session, email: str, password: str, policy: ThrottlePolicy, now: datetime | None = None
) -> SignInResult:
    """Check a sign-in; count failures per address; slow down, then lock.

    The caller commits, so that a failure is recorded even though sign-in is refused.
    """
    now = now or utcnow()
    key = email.strip().lower()[:320]
    throttle = session.get(LoginThrottle, key)
    if throttle and throttle.locked_until and throttle.locked_until > now:
        minutes = math.ceil((throttle.locked_until - now).total_seconds() / 60)
        return SignInResult(
            locked=True,
            message=(
                f"This account is locked after {throttle.failures} failed sign-ins. "
                f"Try again in {minutes} minute{'s' if minutes != 1 else ''}, "
                "or ask an administrator to unlock it."
            ),
        )
    if throttle and throttle.last_failure_at:
        ready_at = throttle.last_failure_at + policy.delay_after(throttle.failures)
        if ready_at > now:
            wait = math.ceil((ready_at - now).total_seconds())
            return SignInResult(
                wait_seconds=wait,
                message=(
                    f"Too many failed sign-ins. Wait {wait} second{'s' if wait != 1 else ''} "
                    "before trying again."
                ),
            )

    user = find_user_by_email(session, key)
    # Verify against a real hash even for unknown users so timing reveals nothing.
    valid = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user and valid and user.is_active:
        if throttle:
            session.delete(throttle)
        if password_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.last_login_at = now
        return SignInResult(user=user)

    if throttle is None:
        throttle = LoginThrottle(key=key, failures=0)
        session.add(throttle)
    throttle.failures += 1
    throttle.last_failure_at = now
    if throttle.failures >= policy.lockout_after:
        throttle.locked_until = now + policy.lockout
        minutes = math.ceil(policy.lockout.total_seconds() / 60)
        return SignInResult(
            locked=True,
            message=(
                f"This account is locked after {throttle.failures} failed sign-ins. "
                f"Try again in {minutes} minutes, or ask an administrator to unlock it."
            ),
        )
    if user and valid and not user.is_active:
        return SignInResult(message="This account is disabled. Ask an administrator.")
    return SignInResult(message="Wrong email or password.")


def unlock_sign_in(session: Session, email: str) -> bool:
    throttle = session.get(LoginThrottle, email.strip().lower())
    if throttle is None:
        return False
    session.delete(throttle)
    return True


_DUMMY_HASH = hash_password("not-a-real-password-just-for-timing")
