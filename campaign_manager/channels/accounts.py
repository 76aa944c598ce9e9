"""Channel accounts: create, edit, enable/disable, test, and build a ready adapter.

Credentials are write-only. They are encrypted at rest (core.crypto.EncryptedJSON), never
returned to a form, and an empty value in an edit keeps what is stored, so a refresh token
is never overwritten with an empty one. Error text that reaches the database or the screen
passes through `redact` first.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session, sessionmaker

from campaign_manager.channels.base import (
    AdapterConfig,
    ChannelAdapter,
    ConnectionCheckFailed,
    SettingField,
)
from campaign_manager.channels.models import AccountStatus, ChannelAccount, RateLimits
from campaign_manager.channels.registry import AdapterNotAvailable, adapter_class
from campaign_manager.core.crypto import (
    CredentialsUnreadable,
    rotate_encrypted_column,
)
from campaign_manager.core.db import utcnow

log = logging.getLogger(__name__)

REDACTED = "[redacted]"
# Shorter values are too likely to occur by chance in an error text to be worth replacing.
MIN_REDACTED_LENGTH = 4


class ChannelAccountError(ValueError):
    """Bad input to an account service; `field` names the input at fault, if one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# --- credentials and settings -------------------------------------------------------------


def merge_credentials(stored: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """`stored` updated with the non-empty values of `new`: an empty value never erases."""
    merged = dict(stored)
    for key, value in new.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        merged[key] = value
    return merged


def redact(message: str, secrets: Mapping[str, Any]) -> str:
    """`message` with every secret value replaced, so it is safe to store, log and show."""
    for value in secrets.values():
        if isinstance(value, str) and len(value) >= MIN_REDACTED_LENGTH:
            message = message.replace(value, REDACTED)
            # Multi-line secrets (a PEM key) may be quoted one line at a time.
            for line in value.splitlines():
                if len(line.strip()) >= 16:
                    message = message.replace(line.strip(), REDACTED)
    return message


def _setting_value(setting: SettingField, raw: Any) -> Any:
    """One submitted setting, checked and converted to what the adapter expects."""
    if setting.input_type == "bool":
        if isinstance(raw, bool):
            return raw
        return str(raw).strip().lower() in ("1", "true", "yes", "on", "y")
    # An empty value takes the field's default, so required fields with one never fail.
    value = ("" if raw is None else str(raw).strip()) or setting.default
    if not value:
        if setting.required:
            raise ChannelAccountError(f"{setting.label} is required.", setting.name)
        return ""
    if setting.input_type == "number":
        try:
            number = float(value)
        except ValueError:
            raise ChannelAccountError(f"{setting.label} must be a number.", setting.name) from None
        return int(number) if number.is_integer() and "." not in value else number
    if setting.input_type == "choice" and setting.choices and value not in setting.choices:
        raise ChannelAccountError(
            f"{setting.label} must be one of: {', '.join(setting.choices)}.", setting.name
        )
    return value


def parse_settings(fields: tuple[SettingField, ...], raw: Mapping[str, Any]) -> dict[str, Any]:
    """The non-secret settings of an adapter from submitted values; unknown keys are dropped."""
    return {f.name: _setting_value(f, raw.get(f.name)) for f in fields if not f.secret}


def _check_secrets(fields: tuple[SettingField, ...], credentials: Mapping[str, Any]) -> None:
    for setting in fields:
        if setting.secret and setting.required and not credentials.get(setting.name):
            raise ChannelAccountError(f"{setting.label} is required.", setting.name)


def _secret_input(fields: tuple[SettingField, ...], raw: Mapping[str, Any]) -> dict[str, Any]:
    return {f.name: raw.get(f.name) for f in fields if f.secret and raw.get(f.name)}


def _check_rate_limits(limits: RateLimits) -> None:
    for name, value in (
        ("rate_per_second", limits.per_second),
        ("rate_per_hour", limits.per_hour),
        ("rate_per_day", limits.per_day),
    ):
        if value is not None and value <= 0:
            raise ChannelAccountError("A rate limit must be greater than zero, or empty.", name)


def _check_display_name(session: Session, name: str, account_id: int | None) -> str:
    name = name.strip()
    if not name:
        raise ChannelAccountError("Give the account a name.", "display_name")
    if len(name) > 200:
        raise ChannelAccountError("The name is longer than 200 characters.", "display_name")
    clash = session.scalar(
        select(ChannelAccount.id).where(
            func.lower(ChannelAccount.display_name) == name.lower(),
            ChannelAccount.id != (account_id or 0),
        )
    )
    if clash:
        raise ChannelAccountError(f"An account named {name} already exists.", "display_name")
    return name


def _adapter_or_error(name: str) -> type[ChannelAdapter]:
    try:
        return adapter_class(name)
    except AdapterNotAvailable as exc:
        raise ChannelAccountError(str(exc), "adapter") from None


# --- create, edit, status -----------------------------------------------------------------


def create_account(
    session: Session,
    *,
    adapter: str,
    display_name: str,
    settings: Mapping[str, Any],
    credentials: Mapping[str, Any],
    rate_limits: RateLimits = RateLimits(),  # noqa: B008 - frozen, so sharing it is safe
) -> ChannelAccount:
    """A new active account. `settings` and `credentials` are keyed by SettingField.name."""
    cls = _adapter_or_error(adapter)
    name = _check_display_name(session, display_name, None)
    parsed = parse_settings(cls.fields, settings)
    secrets = _secret_input(cls.fields, credentials)
    _check_secrets(cls.fields, secrets)
    _check_rate_limits(rate_limits)
    account = ChannelAccount(
        adapter=adapter,
        display_name=name,
        settings=parsed,
        credentials=secrets,
        status=AccountStatus.ACTIVE,
        rate_per_second=rate_limits.per_second,
        rate_per_hour=rate_limits.per_hour,
        rate_per_day=rate_limits.per_day,
    )
    session.add(account)
    session.flush()
    log.info("channel account %s (%s) created", account.id, adapter)
    return account


def update_account(
    session: Session,
    account: ChannelAccount,
    *,
    display_name: str,
    settings: Mapping[str, Any],
    credentials: Mapping[str, Any],
    rate_limits: RateLimits,
) -> ChannelAccount:
    """Change an account. Empty credential values keep the stored ones.

    New credentials for an account that needed reconnecting make it active again: the
    next test or send tells whether they work.
    """
    cls = _adapter_or_error(account.adapter)
    name = _check_display_name(session, display_name, account.id)
    parsed = parse_settings(cls.fields, settings)
    new_secrets = _secret_input(cls.fields, credentials)
    try:
        stored = account.credentials or {}
    except CredentialsUnreadable:
        # Encrypted under a key that is gone: what is entered now replaces what none can read.
        stored = {}
    merged = merge_credentials(stored, new_secrets)
    _check_secrets(cls.fields, merged)
    _check_rate_limits(rate_limits)
    account.display_name = name
    account.settings = parsed
    if new_secrets:
        account.credentials = merged
        if account.status is AccountStatus.NEEDS_RECONNECT:
            account.status = AccountStatus.ACTIVE
    account.rate_per_second = rate_limits.per_second
    account.rate_per_hour = rate_limits.per_hour
    account.rate_per_day = rate_limits.per_day
    session.flush()
    log.info("channel account %s updated", account.id)
    return account


def stored_secret_names(account: ChannelAccount) -> set[str]:
    """Which secrets are stored (for 'stored — leave empty to keep' hints), never the values."""
    return {key for key, value in (account.credentials or {}).items() if value}


def set_account_enabled(account: ChannelAccount, enabled: bool) -> None:
    if enabled:
        if account.status is AccountStatus.DISABLED:
            account.status = AccountStatus.ACTIVE
    else:
        account.status = AccountStatus.DISABLED


def mark_needs_reconnect(account: ChannelAccount, reason: str) -> None:
    """The provider refused the credentials: stop using the account until a person acts."""
    account.last_error = redact(reason, account.credentials or {})
    account.last_error_at = utcnow()
    if account.status is not AccountStatus.DISABLED:
        account.status = AccountStatus.NEEDS_RECONNECT
    log.warning("channel account %s needs reconnecting: %s", account.id, account.last_error)


def record_error(account: ChannelAccount, reason: str) -> None:
    account.last_error = redact(reason, account.credentials or {})
    account.last_error_at = utcnow()


def accounts_needing_reconnect(session: Session) -> list[ChannelAccount]:
    return list(
        session.scalars(
            select(ChannelAccount)
            .where(ChannelAccount.status == AccountStatus.NEEDS_RECONNECT)
            .order_by(ChannelAccount.display_name)
        )
    )


def count_needing_reconnect(session: Session) -> int:
    return session.scalar(
        select(func.count())
        .select_from(ChannelAccount)
        .where(ChannelAccount.status == AccountStatus.NEEDS_RECONNECT)
    )


def list_accounts(session: Session) -> list[ChannelAccount]:
    return list(session.scalars(select(ChannelAccount).order_by(ChannelAccount.display_name)))


# --- adapters -----------------------------------------------------------------------------


def build_adapter(
    account: ChannelAccount, *, instance_path: Path | str, timeout_seconds: float = 30.0
) -> ChannelAdapter:
    """A ready adapter for `account` (no network yet).

    Credentials the adapter refreshes itself are merged into the stored ones and written in
    a short transaction of their own (so the caller must not hold one open while the adapter
    talks to its provider, which is the rule anyway).
    """
    cls = adapter_class(account.adapter)
    session = object_session(account)
    if session is None:
        raise ValueError("build_adapter needs an account loaded through a session")
    engine = session.get_bind()
    account_id = account.id
    config = AdapterConfig(
        settings=dict(account.settings or {}),
        credentials=dict(account.credentials or {}),
        timeout_seconds=timeout_seconds,
        account_label=account.display_name,
        account_id=account_id,
        instance_path=Path(instance_path),
        # The same engine and session info (the file storage) as the account's session.
        session_factory=sessionmaker(bind=engine, expire_on_commit=False, info=dict(session.info)),
    )

    def save_credentials(new: Mapping[str, str]) -> None:
        config.credentials = merge_credentials(config.credentials, new)
        with Session(engine) as own, own.begin():
            stored = own.get(ChannelAccount, account_id)
            if stored is not None:
                stored.credentials = merge_credentials(stored.credentials or {}, new)
        log.info("channel account %s: refreshed credentials saved", account_id)

    config.save_credentials = save_credentials
    return cls(config)


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str
    needs_reconnect: bool = False


def check_connection(
    session: Session, account: ChannelAccount, *, instance_path: Path | str
) -> ConnectionCheck:
    """Ask the provider whether the account works, and record the answer on the account.

    Unlike other services this one commits `session` itself, twice: once before talking to
    the provider, so no transaction (and on SQLite no write lock) is held during network
    I/O, and once after recording the outcome.
    """
    adapter = build_adapter(account, instance_path=instance_path)
    secrets = dict(account.credentials or {})
    session.commit()
    try:
        adapter.check_connection()
        result = ConnectionCheck(True, "The connection works.")
    except ConnectionCheckFailed as exc:
        result = ConnectionCheck(False, redact(str(exc), secrets), exc.needs_reconnect)
    except Exception as exc:  # an adapter's bug must not break the page that asked
        log.error(
            "channel account %s: connection check crashed: %s",
            account.id,
            redact(f"{type(exc).__name__}: {exc}", secrets),
        )
        result = ConnectionCheck(False, f"The check failed unexpectedly ({type(exc).__name__}).")
    finally:
        adapter.close()
    account.last_checked_at = utcnow()
    if result.ok:
        account.last_error = ""
        account.last_error_at = None
        if account.status is AccountStatus.NEEDS_RECONNECT:
            account.status = AccountStatus.ACTIVE
    elif result.needs_reconnect:
        mark_needs_reconnect(account, result.message)
    else:
        record_error(account, result.message)
    session.commit()
    return result


# --- key rotation -------------------------------------------------------------------------


@dataclass(frozen=True)
class RotationResult:
    accounts: int
    reencrypted: int


def rotate_credential_keys(session: Session) -> RotationResult:
    """Re-encrypt every stored credential under the newest configured key; a value that
    no configured key can decrypt stops the rotation with the account's id."""
    try:
        accounts, reencrypted = rotate_encrypted_column(
            session, "channel_accounts", "credentials", "channel account"
        )
    except CredentialsUnreadable as exc:
        raise ChannelAccountError(str(exc)) from None
    return RotationResult(accounts, reencrypted)
