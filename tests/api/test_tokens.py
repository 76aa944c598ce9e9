"""Personal API tokens: made in Settings or with the CLI, shown once, stored hashed, revocable."""

from __future__ import annotations

import re

from sqlalchemy import select

from campaign_manager.core.api_tokens import ApiToken, hash_token
from tests.api.conftest import ApiClient

SECRET_RE = re.compile(r'<code class="token-secret" id="new-token">(cm_[^<]+)</code>')


def test_settings_create_shows_the_token_once_and_stores_its_hash(app, users, db):
    browser = app.test_client()
    browser.login(users["vendor"].email)
    browser.fetch_csrf_token("/settings/api-tokens")
    response = browser.post_form(
        "/settings/api-tokens", {"name": "Print shop sync", "expires_in_days": "30"}
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    secret = SECRET_RE.search(page).group(1)
    token = db.scalar(select(ApiToken))
    assert token.token_hash == hash_token(secret)
    assert secret not in (token.hint + token.name)
    assert token.user_id == users["vendor"].id
    assert token.expires_at is not None

    listing = browser.get("/settings/api-tokens").get_data(as_text=True)
    assert "Print shop sync" in listing
    assert secret not in listing, "the token is shown once only"
    assert token.hint in listing
    assert "<td>never</td>" in listing  # not used yet (it expires: this is the last-used cell)

    # It acts as its user, with the user's role: a vendor may not read contacts.
    assert ApiClient(app, secret).get("/api/v1/contacts").status_code == 403
    db.expire_all()
    used_at = db.get(ApiToken, token.id).last_used_at
    assert used_at is not None
    listing_after_use = browser.get("/settings/api-tokens").get_data(as_text=True)
    assert used_at.strftime("%Y-%m-%d %H:%M UTC") in listing_after_use
    assert "<td>never</td>" not in listing_after_use


def test_settings_form_errors(app, users):
    browser = app.test_client()
    browser.login(users["viewer"].email)
    browser.fetch_csrf_token("/settings/api-tokens")
    response = browser.post_form("/settings/api-tokens", {"name": "", "expires_in_days": "30"})
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.get_data(as_text=True)


def test_revoking_in_settings_stops_the_token(app, users, db, tokens):
    client = ApiClient(app, tokens["marketer"])
    assert client.get("/api/v1/contacts").status_code == 200
    token = db.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(tokens["marketer"])))
    # Someone else cannot revoke it: to them it does not exist.
    other = app.test_client()
    other.login(users["viewer"].email)
    assert other.post_form(f"/settings/api-tokens/{token.id}/revoke").status_code == 404

    owner = app.test_client()
    owner.login(users["marketer"].email)
    response = owner.post_form(f"/settings/api-tokens/{token.id}/revoke")
    assert response.status_code == 302
    assert client.get("/api/v1/contacts").status_code == 401
    assert "revoked" in owner.get("/settings/api-tokens").get_data(as_text=True)


def test_cli_creates_a_token_for_a_user(runner, app, users, db):
    result = runner.invoke(
        ["api-token", "create", "--user", "approver@example.org", "--expires-in-days", "7"]
    )
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    assert secret.startswith("cm_")
    token = db.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    assert token.user_id == users["approver"].id
    assert token.expires_at is not None
    assert ApiClient(app, secret).get("/api/v1/segments").status_code == 200


def test_cli_refuses_an_unknown_user_or_bad_expiry(runner, users):
    unknown = runner.invoke(["api-token", "create", "--user", "nobody@example.org"])
    assert unknown.exit_code != 0
    assert "no user with the email nobody@example.org" in unknown.output
    bad = runner.invoke(
        ["api-token", "create", "--user", "admin@example.org", "--expires-in-days", "0"]
    )
    assert bad.exit_code != 0
