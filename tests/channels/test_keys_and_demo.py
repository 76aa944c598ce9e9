"""`campaign-manager keys ...`, production key checks, and the demo's sandbox accounts."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from campaign_manager.app import create_app
from campaign_manager.channels.demo import create_demo_accounts
from campaign_manager.channels.models import ChannelAccount
from campaign_manager.channels.registry import adapter_class
from campaign_manager.core.config import ConfigError
from campaign_manager.core.crypto import (
    credential_cipher,
    derive_development_key,
    install_credential_cipher,
)
from tests.conftest import TEST_SECRET, Runner


@pytest.fixture
def restore_keys():
    previous = credential_cipher()
    yield
    install_credential_cipher(previous)


def test_keys_generate_prints_a_fernet_key(runner):
    result = runner.invoke(["keys", "generate"])
    assert result.exit_code == 0
    Fernet(result.output.strip().encode())  # raises if it is not a key


def test_keys_rotate_reencrypts_under_the_first_key(
    db, make_account, database_url, tmp_path, restore_keys
):
    account = make_account("smtp", {"host": "smtp.example.org"}, {"password": "pw-rotate-me"})
    new_key = Fernet.generate_key().decode()
    rotated_app = create_app(
        {
            "app": {"instance_path": str(tmp_path / "rotated"), "secret_key": TEST_SECRET},
            "database": {"url": database_url},
            "security": {"credential_keys": [new_key, derive_development_key(TEST_SECRET)]},
        }
    )
    try:
        result = Runner(rotated_app).invoke(["keys", "rotate"])
    finally:
        rotated_app.extensions["database"].dispose()
    assert result.exit_code == 0, result.output
    assert "Re-encrypted the credentials of 1 of 1 channel accounts" in result.output
    token = db.execute(
        text("SELECT credentials FROM channel_accounts WHERE id = :id"), {"id": account.id}
    ).scalar_one()
    assert Fernet(new_key).decrypt(token.encode()) == b'{"password": "pw-rotate-me"}'


def test_keys_rotate_refuses_when_a_value_cannot_be_read(
    db, make_account, database_url, tmp_path, restore_keys
):
    make_account("sendgrid", {}, {"api_key": "SG.unreadable"})
    stranger_app = create_app(
        {
            "app": {"instance_path": str(tmp_path / "stranger"), "secret_key": TEST_SECRET},
            "database": {"url": database_url},
            "security": {"credential_keys": [Fernet.generate_key().decode()]},
        }
    )
    try:
        result = Runner(stranger_app).invoke(["keys", "rotate"])
    finally:
        stranger_app.extensions["database"].dispose()
    assert result.exit_code == 1
    assert "cannot be decrypted with any configured key" in result.output
    assert "Nothing was changed" in result.output


def test_a_malformed_key_stops_start_up_with_advice(tmp_path, restore_keys):
    with pytest.raises(ConfigError, match="key number 1 is not a valid Fernet key"):
        create_app(
            {
                "app": {"instance_path": str(tmp_path), "secret_key": TEST_SECRET},
                "database": {"url": "sqlite://"},
                "security": {"credential_keys": ["too-short"]},
            }
        )


def test_demo_accounts_are_sandboxes_and_labelled(db):
    accounts = create_demo_accounts(db)
    db.commit()
    assert {kind.value for kind in accounts} == {"email", "social", "web"}
    for account in db.query(ChannelAccount).all():
        assert adapter_class(account.adapter).sandbox is True
        assert "sandbox" in account.display_name.lower()
