"""Sandbox adapters: messages are recorded in the instance, once per idempotency key."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, datetime
from pathlib import Path

from campaign_manager.channels.base import (
    AdapterConfig,
    ChannelKind,
    Failed,
    MediaItem,
    RenderedMessage,
    Sent,
)
from campaign_manager.channels.sandbox import (
    SandboxEmailAdapter,
    SandboxSocialAdapter,
    SandboxWebAdapter,
    list_records,
    read_record,
    record_name,
)
from tests.channels.samples import sample_email


def config(tmp_path: Path, account_id: int = 7) -> AdapterConfig:
    return AdapterConfig(settings={}, credentials={}, account_id=account_id, instance_path=tmp_path)


def test_email_is_recorded_with_its_full_mime(tmp_path):
    adapter = SandboxEmailAdapter(config(tmp_path))
    adapter.check_connection()
    result = adapter.send(sample_email(), idempotency_key="delivery-42")
    assert result == Sent("sandbox:7:delivery-42")
    path = tmp_path / "sandbox" / "7" / "delivery-42.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["to"] == "jordan.lee@student.example.org"
    assert data["subject"] == "Bourses d’été: collision repair scholarships ✓"
    assert data["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    mime = email.message_from_string(data["mime"], policy=email.policy.default)
    assert mime["Message-ID"] == "<delivery-42.step-7@careers.example.org>"
    assert mime.get_content_type() == "multipart/alternative"


def test_a_retry_records_nothing_twice(tmp_path):
    adapter = SandboxEmailAdapter(config(tmp_path))
    first = adapter.send(sample_email(), idempotency_key="delivery-42")
    second = adapter.send(sample_email(subject="Changed"), idempotency_key="delivery-42")
    assert first == second
    [record] = list_records(tmp_path, 7)
    assert record.data["subject"] != "Changed"
    assert sorted(p.name for p in (tmp_path / "sandbox" / "7").iterdir()) == ["delivery-42.json"]


def test_unsafe_keys_become_hashed_file_names(tmp_path):
    assert record_name("../../etc/passwd").startswith("k-")
    assert record_name("delivery-1.step-2") == "delivery-1.step-2"
    adapter = SandboxSocialAdapter(config(tmp_path))
    adapter.send(RenderedMessage(kind=ChannelKind.SOCIAL, text="Hi"), idempotency_key="a/b")
    [record] = list_records(tmp_path, 7)
    assert record.idempotency_key == "a/b" and record.name == record_name("a/b")
    assert read_record(tmp_path, 7, "../7/" + record.name) is None


def test_social_and_web_records(tmp_path):
    social = SandboxSocialAdapter(config(tmp_path, 1))
    photo = MediaItem("shop.jpg", "image/jpeg", b"\xff\xd8jpeg", alt_text="A technician at work")
    post = RenderedMessage(
        kind=ChannelKind.SOCIAL,
        text="Scholarships are open!\nApply now.",
        link="https://careers.example.org",
        media=(photo,),
    )
    assert isinstance(social.send(post, idempotency_key="p1"), Sent)
    [record] = list_records(tmp_path, 1)
    assert record.summary == "Scholarships are open!"
    assert record.data["media"] == [
        {
            "filename": "shop.jpg",
            "content_type": "image/jpeg",
            "size": 6,
            "alt_text": "A technician at work",
        }
    ]
    no_alt = RenderedMessage(
        kind=ChannelKind.SOCIAL, text="x", media=(MediaItem("a.png", "image/png", b"x"),)
    )
    assert isinstance(social.send(no_alt, idempotency_key="p2"), Failed)

    web = SandboxWebAdapter(config(tmp_path, 2))
    page = RenderedMessage(
        kind=ChannelKind.WEB,
        title="Careers in collision repair",
        slug="careers",
        html="<h1>Careers</h1>",
        publish_at=datetime(2026, 4, 1, 12, tzinfo=UTC),
    )
    assert isinstance(web.send(page, idempotency_key="w1"), Sent)
    [web_record] = list_records(tmp_path, 2)
    assert web_record.data["publish_at"] == "2026-04-01T12:00:00+00:00"
    assert isinstance(web.send(RenderedMessage(kind=ChannelKind.WEB), idempotency_key="w2"), Failed)


def test_sandbox_adapters_declare_themselves():
    for cls in (SandboxEmailAdapter, SandboxSocialAdapter, SandboxWebAdapter):
        assert cls.idempotent and cls.sandbox
