"""The channel adapter protocol: what every adapter (built-in or third-party) implements.

An adapter receives a `RenderedMessage` that carries everything it needs and knows nothing
of campaigns. It maps every provider answer to one of three outcomes: `Sent`,
`RetryLater` or `Failed`. Adapters are found through the entry-point group
`campaign_manager.channels` (see registry.py).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


class ChannelKind(enum.StrEnum):
    EMAIL = "email"
    SOCIAL = "social"
    WEB = "web"
    PRINT = "print"


@dataclass(frozen=True)
class MediaItem:
    """A file that travels with a message: an image for a post, a PDF for a print job."""

    filename: str
    content_type: str
    data: bytes
    alt_text: str = ""
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class RenderedMessage:
    """One message, fully rendered for one recipient or target.

    Email uses to/subject/text/html/from/headers; social uses text, link and media;
    web uses title, html, slug and publish_at; print uses files and manifest.
    `headers` carries Message-ID, List-Unsubscribe and List-Unsubscribe-Post for email.
    `tags` are short key/values for the provider's own reporting (campaign, step).
    """

    kind: ChannelKind
    to: str = ""
    to_name: str = ""
    subject: str = ""
    text: str = ""
    html: str = ""
    from_address: str = ""
    from_name: str = ""
    reply_to: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    media: tuple[MediaItem, ...] = ()
    link: str = ""
    title: str = ""
    slug: str = ""
    publish_at: datetime | None = None
    files: tuple[MediaItem, ...] = ()
    manifest: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


# --- outcomes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    external_id: str


@dataclass(frozen=True)
class RetryLater:
    after_seconds: float
    reason: str
    # The request may have reached the provider (a read timeout, a dropped connection after
    # DATA): retrying a non-idempotent adapter could send twice, so the engine marks the
    # delivery "uncertain" for a person instead.
    maybe_delivered: bool = False


@dataclass(frozen=True)
class Failed:
    reason: str
    permanent: bool = True
    # The provider refused the credentials: the account must be reconnected by a person.
    needs_reconnect: bool = False


SendResult = Sent | RetryLater | Failed


@dataclass(frozen=True)
class Problem:
    """A reason a message cannot be sent through this adapter, found before sending."""

    field: str
    message: str


class ConnectionCheckFailed(Exception):
    """`check_connection` found the account unusable; the message is safe to show."""

    def __init__(self, message: str, *, needs_reconnect: bool = False) -> None:
        super().__init__(message)
        self.needs_reconnect = needs_reconnect


# --- configuration -------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingField:
    """One field of a channel account's form. Secret fields are encrypted and write-only."""

    name: str
    label: str
    secret: bool = False
    required: bool = True
    help: str = ""
    default: str = ""
    # "text", "password", "number", "bool", "textarea", "choice"
    input_type: str = "text"
    choices: tuple[str, ...] = ()


@dataclass
class AdapterConfig:
    """What an adapter is built from: an account's settings and decrypted credentials.

    `save_credentials` persists credentials the adapter refreshed itself (a new access
    token); the account service ignores empty values, so a stored refresh token is never
    overwritten with an empty one.
    """

    settings: Mapping[str, Any]
    # repr=False: a logged or printed config must never show a secret.
    credentials: Mapping[str, str] = field(repr=False)
    save_credentials: Callable[[Mapping[str, str]], None] = lambda _new: None
    timeout_seconds: float = 30.0
    account_label: str = ""
    # The account's id and the instance folder, for adapters that keep files of their own
    # (the sandbox adapters record messages under <instance>/sandbox/<account id>/).
    account_id: int | None = None
    instance_path: Path | None = None
    # New sessions on the application's database, for the few adapters that keep records
    # there (print_export creates print jobs). Each call is a new session: an adapter opens
    # a short transaction of its own and never holds one across network I/O.
    session_factory: Callable[[], Session] | None = None


@runtime_checkable
class ChannelAdapter(Protocol):
    """What the registry and the engine rely on.

    Optional extras, looked up with getattr so older adapters need not declare them:
    `sandbox: ClassVar[bool] = True` marks an adapter that records instead of sending (the
    UI labels its accounts "sandbox"); `send_batch` (SupportsBatch) and `receive_webhook`
    (SupportsWebhooks) below.
    """

    name: ClassVar[str]
    kind: ClassVar[ChannelKind]
    display_name: ClassVar[str]
    fields: ClassVar[tuple[SettingField, ...]]
    # True when send() honours idempotency_key at the provider, so a delivery left in
    # "sending" by a crashed worker may be retried without risk of a duplicate.
    idempotent: ClassVar[bool]

    def __init__(self, config: AdapterConfig) -> None: ...

    def validate(self, message: RenderedMessage) -> list[Problem]: ...

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendResult: ...

    def check_connection(self) -> None: ...

    def close(self) -> None: ...


# --- optional capabilities ---------------------------------------------------------------


@runtime_checkable
class SupportsBatch(Protocol):
    """An adapter that sends many messages in one provider call (Postmark's /email/batch).

    Returns one outcome per message, in order: a batch answer can mix successes and errors.
    """

    def send_batch(
        self, messages: Sequence[RenderedMessage], idempotency_keys: Sequence[str]
    ) -> list[SendResult]: ...


class BounceKind(enum.StrEnum):
    BOUNCE = "bounce"
    COMPLAINT = "complaint"


@dataclass(frozen=True)
class BounceReport:
    """A bounce or spam complaint reported by a provider's webhook, in one shape for all."""

    email: str
    kind: BounceKind
    # A hard bounce or a complaint; a soft bounce (mailbox full) is not permanent.
    permanent: bool
    provider: str
    provider_event_id: str
    occurred_at: datetime
    reason: str = ""
    # The provider's own record of this event, with anything secret removed.
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class WebhookRequest:
    """An incoming webhook call, independent of the web framework.

    `headers` keys are lower-case.
    """

    headers: Mapping[str, str]
    body: bytes
    received_at: datetime


class WebhookRejected(Exception):
    """The webhook call is not authentic (bad signature, stale timestamp) or not readable.

    `status` is the HTTP status to answer with; the message is safe to log.
    """

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


@runtime_checkable
class SupportsWebhooks(Protocol):
    """An adapter whose provider posts bounce and complaint events back to us."""

    def receive_webhook(self, request: WebhookRequest) -> list[BounceReport]: ...
