"""Channel accounts: validation, encryption at rest, write-only secrets, key rotation."""

from __future__ import annotations

import logging

import pytest
import responses
from cryptography.fernet import Fernet
from sqlalchemy import text

from campaign_manager.channels.accounts import (
    ChannelAccountError,
    build_adapter,
    check_connection,
    count_needing_reconnect,
    create_account,
    mark_needs_reconnect,
    merge_credentials,
    redact,
    rotate_credential_keys,
    set_account_enabled,
    stored_secret_names,
    update_account,
)
from campaign_manager.channels.models import AccountStatus, ChannelAccount, RateLimits
from campaign_manager.core.crypto import (
    CredentialCipher,
    CredentialsUnreadable,
    credential_cipher,
    derive_development_key,
    install_credential_cipher,
)
from tests.conftest import TEST_SECRET

API_KEY = "SG.live-key.0123456789abcdefghijklmnopqrstuvwxyz"


@pytest.fixture
def restore_keys():
    """Tests that swap the process-wide key ring put the app's back afterwards."""
    previous = credential_cipher()
    yield
    install_credential_cipher(previous)


def raw_credentials(db, account_id: int) -> str:
    return db.execute(
        text("SELECT credentials FROM channel_accounts WHERE id = :id"), {"id": account_id}
    ).scalar_one()


def test_credentials_are_encrypted_at_rest(db, make_account):
    account = make_account("sendgrid", {"region": "global"}, {"api_key": API_KEY})
    stored = raw_credentials(db, account.id)
    assert API_KEY not in stored and "api_key" not in stored
    assert stored.startswith("gAAAAA")  # a Fernet token
    db.expire_all()
    assert db.get(ChannelAccount, account.id).credentials == {"api_key": API_KEY}


def test_create_validates_settings_and_secrets(db):
    with pytest.raises(ChannelAccountError) as missing:
        create_account(db, adapter="sendgrid", display_name="SG", settings={}, credentials={})
    assert missing.value.field == "api_key"
    with pytest.raises(ChannelAccountError) as bad_choice:
        create_account(
            db,
            adapter="sendgrid",
            display_name="SG",
            settings={"region": "mars"},
            credentials={"api_key": API_KEY},
        )
    assert bad_choice.value.field == "region" and "global, eu" in str(bad_choice.value)
    with pytest.raises(ChannelAccountError) as bad_number:
        create_account(
            db,
            adapter="smtp",
            display_name="Relay",
            settings={"host": "smtp.example.org", "port": "five"},
            credentials={},
        )
    assert bad_number.value.field == "port"
    with pytest.raises(ChannelAccountError, match="no channel adapter named 'fax'"):
        create_account(db, adapter="fax", display_name="Fax", settings={}, credentials={})
    with pytest.raises(ChannelAccountError) as bad_rate:
        create_account(
            db,
            adapter="sandbox_email",
            display_name="Sandbox",
            settings={},
            credentials={},
            rate_limits=RateLimits(per_hour=0),
        )
    assert bad_rate.value.field == "rate_per_hour"


def test_settings_are_typed_and_unknown_keys_dropped(db, make_account):
    account = make_account(
        "smtp",
        {"host": " smtp.example.org ", "port": "2525", "security": "tls", "surprise": "x"},
        {"password": "relay-secret"},
    )
    assert account.settings["host"] == "smtp.example.org"
    assert account.settings["port"] == 2525
    assert account.settings["security"] == "tls"
    assert "surprise" not in account.settings and "password" not in account.settings


def test_names_are_unique_regardless_of_case(db, make_account):
    make_account("sandbox_email", name="Newsletter")
    with pytest.raises(ChannelAccountError) as clash:
        create_account(
            db, adapter="sandbox_email", display_name="newsletter", settings={}, credentials={}
        )
    assert clash.value.field == "display_name"


def test_empty_secret_input_keeps_the_stored_secret(db, make_account):
    account = make_account("sendgrid", {"region": "global"}, {"api_key": API_KEY})
    update_account(
        db,
        account,
        display_name="Renamed",
        settings={"region": "eu"},
        credentials={"api_key": ""},
        rate_limits=RateLimits(per_second=5),
    )
    db.commit()
    db.expire_all()
    reloaded = db.get(ChannelAccount, account.id)
    assert reloaded.credentials == {"api_key": API_KEY}
    assert reloaded.settings["region"] == "eu"
    assert reloaded.rate_limits == RateLimits(per_second=5)
    assert stored_secret_names(reloaded) == {"api_key"}


def test_new_credentials_bring_a_disconnected_account_back(db, make_account):
    account = make_account("sendgrid", {}, {"api_key": API_KEY})
    mark_needs_reconnect(account, f"401 for key {API_KEY}")
    assert account.status is AccountStatus.NEEDS_RECONNECT
    assert API_KEY not in account.last_error and "[redacted]" in account.last_error
    db.commit()
    assert count_needing_reconnect(db) == 1
    update_account(
        db,
        account,
        display_name=account.display_name,
        settings={},
        credentials={"api_key": "SG.new-key.zyx"},
        rate_limits=RateLimits(),
    )
    assert account.status is AccountStatus.ACTIVE
    assert account.credentials == {"api_key": "SG.new-key.zyx"}


def test_disable_and_enable(db, make_account):
    account = make_account("sandbox_web")
    set_account_enabled(account, False)
    assert account.status is AccountStatus.DISABLED and not account.is_usable
    mark_needs_reconnect(account, "refused")
    assert account.status is AccountStatus.DISABLED  # disabling wins
    set_account_enabled(account, True)
    assert account.status is AccountStatus.ACTIVE


def test_merge_never_overwrites_with_empty_values():
    stored = {"access_token": "a1", "refresh_token": "r1"}
    assert merge_credentials(stored, {"access_token": "a2", "refresh_token": ""}) == {
        "access_token": "a2",
        "refresh_token": "r1",
    }
    assert merge_credentials(stored, {"refresh_token": None}) == stored
    assert merge_credentials(stored, {"refresh_token": "  "}) == stored


def test_redact_replaces_every_secret_value():
    secrets = {
        "api_key": API_KEY,
        "pem": "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----",
    }
    message = f"bad key {API_KEY}; line MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
    assert redact(message, secrets) == "bad key [redacted]; line [redacted]"


def test_refreshed_credentials_are_saved_without_losing_the_refresh_token(
    db, make_account, instance_path
):
    account = make_account("sandbox_social")
    account.credentials = {"access_token": "old", "refresh_token": "refresh-1"}
    db.commit()
    adapter = build_adapter(account, instance_path=instance_path)
    db.commit()  # no transaction open while the adapter works, as in the engine
    adapter.config.save_credentials({"access_token": "new", "refresh_token": ""})
    assert adapter.config.credentials == {"access_token": "new", "refresh_token": "refresh-1"}
    db.expire_all()
    assert db.get(ChannelAccount, account.id).credentials == {
        "access_token": "new",
        "refresh_token": "refresh-1",
    }


def test_build_adapter_hands_over_settings_and_folder(db, make_account, instance_path):
    account = make_account("smtp", {"host": "smtp.example.org"}, {"password": "pw-123456"})
    adapter = build_adapter(account, instance_path=instance_path)
    assert adapter.config.settings["host"] == "smtp.example.org"
    assert adapter.config.credentials == {"password": "pw-123456"}
    assert adapter.config.account_id == account.id
    assert adapter.config.instance_path == instance_path
    assert "pw-123456" not in repr(adapter.config)


def test_check_connection_marks_refused_credentials(db, make_account, instance_path, caplog):
    caplog.set_level(logging.DEBUG)
    account = make_account("sendgrid", {}, {"api_key": API_KEY})
    with responses.RequestsMock() as mock:
        mock.get(
            "https://api.sendgrid.com/v3/scopes",
            status=401,
            json={"errors": [{"field": None, "message": "authorization required"}]},
        )
        result = check_connection(db, account, instance_path=instance_path)
    assert not result.ok and result.needs_reconnect
    db.expire_all()
    reloaded = db.get(ChannelAccount, account.id)
    assert reloaded.status is AccountStatus.NEEDS_RECONNECT
    assert "refused the API key" in reloaded.last_error
    assert reloaded.last_checked_at is not None
    assert API_KEY not in caplog.text


def test_check_connection_success_reactivates(db, make_account, instance_path):
    account = make_account("sandbox_email")
    mark_needs_reconnect(account, "was broken")
    db.commit()
    result = check_connection(db, account, instance_path=instance_path)
    assert result.ok
    db.expire_all()
    reloaded = db.get(ChannelAccount, account.id)
    assert reloaded.status is AccountStatus.ACTIVE and reloaded.last_error == ""


def test_rotation_reencrypts_under_the_newest_key(db, make_account, restore_keys):
    first = make_account("sendgrid", {}, {"api_key": API_KEY}, name="One")
    second = make_account("smtp", {"host": "h.example.org"}, {"password": "pw-abcdef"}, name="Two")
    old_key = derive_development_key(TEST_SECRET)
    new_key = Fernet.generate_key().decode()
    install_credential_cipher(CredentialCipher([new_key, old_key]))

    result = rotate_credential_keys(db)
    db.commit()
    assert (result.accounts, result.reencrypted) == (2, 2)
    assert rotate_credential_keys(db).reencrypted == 0  # already done

    install_credential_cipher(CredentialCipher([new_key]))  # the old key is gone
    db.expire_all()
    assert db.get(ChannelAccount, first.id).credentials == {"api_key": API_KEY}
    assert db.get(ChannelAccount, second.id).credentials == {"password": "pw-abcdef"}
    assert Fernet(new_key).decrypt(raw_credentials(db, first.id).encode())


def test_rotation_stops_on_a_value_no_key_can_read(db, make_account, restore_keys):
    account = make_account("sendgrid", {}, {"api_key": API_KEY})
    install_credential_cipher(CredentialCipher([Fernet.generate_key()]))
    with pytest.raises(ChannelAccountError, match=f"channel account {account.id}"):
        rotate_credential_keys(db)
    db.expire_all()
    with pytest.raises(CredentialsUnreadable, match="restore the old key"):
        _ = db.get(ChannelAccount, account.id).credentials


def test_unreadable_credentials_can_be_replaced(db, make_account, restore_keys):
    account = make_account("sendgrid", {}, {"api_key": API_KEY})
    install_credential_cipher(CredentialCipher([Fernet.generate_key()]))
    db.expire_all()
    account = db.get(ChannelAccount, account.id)
    with pytest.raises(ChannelAccountError) as still_missing:
        update_account(
            db,
            account,
            display_name=account.display_name,
            settings={},
            credentials={},
            rate_limits=RateLimits(),
        )
    assert still_missing.value.field == "api_key"
    update_account(
        db,
        account,
        display_name=account.display_name,
        settings={},
        credentials={"api_key": "SG.re-entered"},
        rate_limits=RateLimits(),
    )
    db.commit()
    db.expire_all()
    assert db.get(ChannelAccount, account.id).credentials == {"api_key": "SG.re-entered"}
