"""The adapter registry: entry points, built-in and third-party, and clear errors."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from campaign_manager.channels import registry
from campaign_manager.channels.base import AdapterConfig, ChannelKind, RenderedMessage, Sent

BUILT_IN = {
    "mailgun",
    "postmark",
    "sandbox_email",
    "sandbox_social",
    "sandbox_web",
    "sendgrid",
    "smtp",
}


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path where tests install small distributions, as pip would."""
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.rescan()
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("pigeon_post")]:
        del sys.modules[name]
    monkeypatch.undo()
    registry.rescan()


def install_distribution(site: Path, name: str, entry_points: str, modules: dict[str, str]) -> None:
    """Write a distribution's files the way an installer leaves them: code plus dist-info."""
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


PIGEON = """
from campaign_manager.channels.base import ChannelKind, SettingField, Sent


class PigeonAdapter:
    name = "pigeon"
    kind = ChannelKind.SOCIAL
    display_name = "Carrier pigeon"
    fields = (SettingField("loft", "Loft"),)
    idempotent = False

    def __init__(self, config):
        self.config = config

    def validate(self, message):
        return []

    def send(self, message, *, idempotency_key):
        return Sent(f"pigeon:{idempotency_key}")

    def check_connection(self):
        pass

    def close(self):
        pass
"""


def test_built_in_adapters_are_found_through_entry_points():
    found = {a.name: a for a in registry.installed_adapters()}
    assert set(found) >= BUILT_IN
    assert all(found[name].is_usable for name in BUILT_IN)
    assert found["smtp"].distribution == "campaign-manager"
    assert found["sandbox_email"].is_sandbox and not found["smtp"].is_sandbox
    assert found["sendgrid"].receives_webhooks and not found["smtp"].receives_webhooks


def test_a_third_party_package_adds_an_adapter(site: Path):
    install_distribution(
        site,
        "pigeon-post",
        """
        [campaign_manager.channels]
        pigeon = pigeon_post:PigeonAdapter
        """,
        {"pigeon_post": PIGEON},
    )
    registry.rescan()
    found = {a.name: a for a in registry.installed_adapters()}
    assert found["pigeon"].is_usable
    assert found["pigeon"].distribution == "pigeon-post"
    assert found["pigeon"].kind is ChannelKind.SOCIAL
    cls = registry.adapter_class("pigeon")
    adapter = cls(AdapterConfig(settings={"loft": "north"}, credentials={}))
    message = RenderedMessage(kind=ChannelKind.SOCIAL, text="coo")
    assert adapter.send(message, idempotency_key="d-1") == Sent("pigeon:d-1")


def test_broken_adapters_are_listed_with_the_reason(site: Path):
    install_distribution(
        site,
        "pigeon-post",
        """
        [campaign_manager.channels]
        missing = pigeon_post_missing:Nothing
        renamed = pigeon_post:PigeonAdapter
        """,
        {"pigeon_post": PIGEON},
    )
    registry.rescan()
    found = {a.name: a for a in registry.installed_adapters()}
    assert not found["missing"].is_usable
    assert "cannot be imported" in found["missing"].error
    assert "ModuleNotFoundError" in found["missing"].error
    assert "must be equal" in found["renamed"].error
    with pytest.raises(registry.AdapterNotAvailable, match="'missing' from pigeon-post is broken"):
        registry.adapter_class("missing")
    # The built-in ones still work beside a broken plugin.
    assert registry.adapter_class("smtp").name == "smtp"


def test_an_unknown_adapter_names_the_installed_ones():
    with pytest.raises(registry.AdapterNotAvailable) as error:
        registry.adapter_class("telegraph")
    message = str(error.value)
    assert "no channel adapter named 'telegraph'" in message
    assert "sendgrid" in message and "Install the package" in message
