"""Sandbox adapters: record what would be sent, touch no network.

Each message becomes one JSON file under <instance>/sandbox/<account id>/, named after its
idempotency key, so a retried delivery finds its file and records nothing twice. The demo's
accounts use these, so the demo never posts anywhere real. Staff read the recordings on the
account's page.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from campaign_manager.channels.base import (
    AdapterConfig,
    ChannelKind,
    ConnectionCheckFailed,
    Failed,
    Problem,
    RenderedMessage,
    SendResult,
    Sent,
    SettingField,
)
from campaign_manager.channels.email_message import (
    email_headers,
    encode_email,
    validate_email_message,
)
from campaign_manager.core.db import utcnow

SANDBOX_FOLDER = "sandbox"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
MAX_NAME_LENGTH = 120


def record_name(idempotency_key: str) -> str:
    """A file name for a key: the key itself when it is safe, else a hash of it."""
    safe = bool(idempotency_key) and not _UNSAFE.search(idempotency_key)
    if safe and not idempotency_key.startswith(".") and len(idempotency_key) <= MAX_NAME_LENGTH:
        return idempotency_key
    return "k-" + hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()


def sandbox_folder(instance_path: Path | str, account_id: int) -> Path:
    return Path(instance_path) / SANDBOX_FOLDER / str(account_id)


@dataclass(frozen=True)
class SandboxRecord:
    """One recorded message, as read back for display."""

    name: str
    kind: str
    recorded_at: datetime
    idempotency_key: str
    summary: str
    data: dict[str, Any]


def list_records(
    instance_path: Path | str, account_id: int, limit: int = 200
) -> list[SandboxRecord]:
    """The newest recordings of one account first."""
    folder = sandbox_folder(instance_path, account_id)
    if not folder.is_dir():
        return []
    records = [r for r in (_read(path) for path in folder.glob("*.json")) if r is not None]
    records.sort(key=lambda r: (r.recorded_at, r.name), reverse=True)
    return records[:limit]


def read_record(instance_path: Path | str, account_id: int, name: str) -> SandboxRecord | None:
    if _UNSAFE.search(name) or name.startswith("."):
        return None
    return _read(sandbox_folder(instance_path, account_id) / f"{name}.json")


def _read(path: Path) -> SandboxRecord | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return SandboxRecord(
        name=path.stem,
        kind=data.get("kind", ""),
        recorded_at=datetime.fromisoformat(data["recorded_at"]),
        idempotency_key=data.get("idempotency_key", ""),
        summary=data.get("summary", ""),
        data=data,
    )


class _SandboxAdapter:
    """What the three sandbox adapters share: where and how a message is recorded."""

    name: ClassVar[str]
    kind: ClassVar[ChannelKind]
    display_name: ClassVar[str]
    fields: ClassVar[tuple[SettingField, ...]] = (
        SettingField(
            "note",
            "Note",
            required=False,
            help="Shown on the account page, e.g. what this sandbox stands in for.",
        ),
    )
    # A retry finds the file written by the first attempt: never a duplicate.
    idempotent: ClassVar[bool] = True
    # Labels the account "sandbox" everywhere it is listed.
    sandbox: ClassVar[bool] = True

    def __init__(self, config: AdapterConfig) -> None:
        self.config = config

    @property
    def folder(self) -> Path:
        if self.config.instance_path is None or self.config.account_id is None:
            raise ConnectionCheckFailed("a sandbox account needs its instance folder and id")
        return sandbox_folder(self.config.instance_path, self.config.account_id)

    def check_connection(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConnectionCheckFailed(f"cannot write to {self.folder}: {exc.strerror}") from None
        if not os.access(self.folder, os.W_OK):
            raise ConnectionCheckFailed(f"cannot write to {self.folder}")

    def close(self) -> None:
        pass

    def record(self, message: RenderedMessage, idempotency_key: str) -> dict[str, Any]:
        raise NotImplementedError

    def summary(self, message: RenderedMessage) -> str:
        raise NotImplementedError

    def send(self, message: RenderedMessage, *, idempotency_key: str) -> SendResult:
        problems = self.validate(message)
        if problems:
            return Failed("; ".join(p.message for p in problems))
        name = record_name(idempotency_key)
        path = self.folder / f"{name}.json"
        external_id = f"sandbox:{self.config.account_id}:{name}"
        if path.exists():
            return Sent(external_id)
        data = {
            "kind": str(self.kind),
            "adapter": self.name,
            "idempotency_key": idempotency_key,
            "recorded_at": utcnow().isoformat(),
            "summary": self.summary(message)[:200],
            "tags": dict(message.tags),
            **self.record(message, idempotency_key),
        }
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _write_once(path, json.dumps(data, indent=2, ensure_ascii=False))
        except OSError as exc:
            return Failed(f"cannot record the message in {self.folder}: {exc.strerror}", False)
        return Sent(external_id)

    def validate(self, message: RenderedMessage) -> list[Problem]:
        raise NotImplementedError


def _write_once(path: Path, content: str) -> None:
    """Write `path` completely or not at all; if it appeared meanwhile, keep the first one."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(content)
        # link() fails if the name exists, unlike replace(): two racing workers record once.
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)


def _media(message: RenderedMessage) -> list[dict[str, Any]]:
    return [
        {
            "filename": item.filename,
            "content_type": item.content_type,
            "size": len(item.data),
            "alt_text": item.alt_text,
        }
        for item in (*message.media, *message.files)
    ]


class SandboxEmailAdapter(_SandboxAdapter):
    name = "sandbox_email"
    kind = ChannelKind.EMAIL
    display_name = "Sandbox email (records, sends nothing)"

    def validate(self, message: RenderedMessage) -> list[Problem]:
        return validate_email_message(message)

    def summary(self, message: RenderedMessage) -> str:
        return f"To {message.to}: {message.subject}"

    def record(self, message: RenderedMessage, idempotency_key: str) -> dict[str, Any]:
        encoded = encode_email(message)
        return {
            "to": message.to,
            "to_name": message.to_name,
            "from": message.from_address,
            "from_name": message.from_name,
            "subject": message.subject,
            "headers": email_headers(message) | {"Message-ID": encoded.message_id},
            "text": message.text,
            "html": message.html,
            "attachments": _media(message),
            "mime": encoded.data.decode("ascii"),
        }


class SandboxSocialAdapter(_SandboxAdapter):
    name = "sandbox_social"
    kind = ChannelKind.SOCIAL
    display_name = "Sandbox social network (records, posts nothing)"

    def validate(self, message: RenderedMessage) -> list[Problem]:
        if not (message.text.strip() or message.media):
            return [Problem("text", "A post needs text or media.")]
        missing_alt = [m.filename for m in message.media if not m.alt_text.strip()]
        if missing_alt:
            return [Problem("media", f"Add alt text to: {', '.join(missing_alt)}.")]
        return []

    def summary(self, message: RenderedMessage) -> str:
        return message.text.strip().splitlines()[0] if message.text.strip() else "(media only)"

    def record(self, message: RenderedMessage, idempotency_key: str) -> dict[str, Any]:
        return {"text": message.text, "link": message.link, "media": _media(message)}


class SandboxWebAdapter(_SandboxAdapter):
    name = "sandbox_web"
    kind = ChannelKind.WEB
    display_name = "Sandbox website (records, publishes nothing)"

    def validate(self, message: RenderedMessage) -> list[Problem]:
        problems = []
        if not message.title.strip():
            problems.append(Problem("title", "A web page needs a title."))
        if not message.html.strip():
            problems.append(Problem("html", "A web page needs content."))
        return problems

    def summary(self, message: RenderedMessage) -> str:
        return message.title

    def record(self, message: RenderedMessage, idempotency_key: str) -> dict[str, Any]:
        return {
            "title": message.title,
            "slug": message.slug,
            "publish_at": message.publish_at.isoformat() if message.publish_at else None,
            "html": message.html,
            "media": _media(message),
        }
