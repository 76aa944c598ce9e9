"""The API's shared conventions: pagination, idempotency, rate limits, tokens, errors, docs."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from audiences.contacts import create_contact
from audiences.models import Consent, Contact
from campaign_manager.api.idempotency import IdempotencyRecord
from campaign_manager.app import create_app
from campaign_manager.core.api_tokens import ApiToken, create_token, hash_token
from campaign_manager.core.db import utcnow
from tests.api.conftest import ApiClient
from tests.conftest import TEST_SECRET

PROBLEM = "application/problem+json"


# --- pagination ----------------------------------------------------------------------------


def _collect(client, url: str, between_pages=None) -> list[int]:
    """Follow next_cursor to the end, calling `between_pages` after every page."""
    ids: list[int] = []
    cursor = None
    while True:
        page_url = url + (f"&cursor={cursor}" if cursor else "")
        body = client.get(page_url).get_json()
        ids += [item["id"] for item in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids
        if between_pages:
            between_pages()


@pytest.mark.parametrize("sort", ["id", "-id", "updated_at", "-updated_at"])
def test_pages_neither_skip_nor_repeat_while_contacts_are_added(api, db, sort):
    before = [create_contact(db, f"before{i}@example.org").id for i in range(7)]
    db.commit()
    added: list[int] = []

    def insert_one():
        added.append(create_contact(db, f"added{len(added)}@example.org").id)
        db.commit()

    seen = _collect(api.viewer, f"/api/v1/contacts?limit=2&sort={sort}", insert_one)
    assert len(seen) == len(set(seen)), f"an item came twice: {seen}"
    assert set(before) <= set(seen), "an item that was there all along was skipped"
    if sort.startswith("-"):
        # Newest first: rows added meanwhile sort before the cursor, so they are not shown.
        assert seen == sorted(before, reverse=True)
    else:
        # Oldest first: rows added meanwhile come after, so the walk sees them at the end.
        assert seen == before + added
    assert added, "the walk took several pages"


def test_filters_combine_with_pages(api, db):
    from audiences.models import ContactRole

    for i in range(5):
        create_contact(db, f"s{i}@example.org", role=ContactRole.STUDENT)
        create_contact(db, f"p{i}@example.org", role=ContactRole.PARENT)
    db.commit()
    ids = _collect(api.viewer, "/api/v1/contacts?limit=2&role=student&sort=id")
    assert len(ids) == 5
    emails = {db.get(Contact, i).email for i in ids}
    assert emails == {f"s{i}@example.org" for i in range(5)}


def test_updated_since_lists_only_recent_changes(api, db):
    old = create_contact(db, "old@example.org")
    old.updated_at = utcnow() - timedelta(days=3)
    recent = create_contact(db, "recent@example.org")
    db.commit()
    since = (utcnow() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    body = api.viewer.get(f"/api/v1/contacts?updated_since={since}").get_json()
    assert [c["id"] for c in body["data"]] == [recent.id]
    naive = api.viewer.get("/api/v1/contacts?updated_since=2026-01-01T00:00:00")
    assert naive.status_code == 422
    assert naive.get_json()["errors"][0]["field"] == "query.updated_since"


def test_bad_cursor_and_sort_are_field_errors(api, db):
    for i in range(3):
        create_contact(db, f"c{i}@example.org")
    db.commit()
    cursor = api.viewer.get("/api/v1/contacts?limit=1&sort=id").get_json()["next_cursor"]
    for query, field in [
        ("cursor=not-a-cursor", "query.cursor"),
        (f"cursor={cursor}&sort=-id", "query.cursor"),
        ("sort=email", "query.sort"),
        ("limit=0", "query.limit"),
        # A NUL is the API's own field error, not the web pages' HTML refusal.
        ("sort=%00", "query.sort"),
    ]:
        response = api.viewer.get(f"/api/v1/contacts?{query}")
        assert response.status_code == 422, query
        assert response.mimetype == PROBLEM
        assert [e["field"] for e in response.get_json()["errors"]] == [field], query


def test_page_size_is_capped_by_config(app, api, db):
    app.extensions["settings"].api.max_page_size = 2
    for i in range(3):
        create_contact(db, f"c{i}@example.org")
    db.commit()
    body = api.viewer.get("/api/v1/contacts?limit=500").get_json()
    assert len(body["data"]) == 2 and body["next_cursor"]


# --- idempotency ---------------------------------------------------------------------------


def test_the_same_key_returns_the_first_result(api, db):
    body = {"email": "idem@example.org", "first_name": "Ida"}
    headers = {"Idempotency-Key": "3b8f4a0e-key-1"}
    first = api.marketer.post("/api/v1/contacts", json=body, headers=headers)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    again = api.marketer.post("/api/v1/contacts", json=body, headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert db.scalar(select(func.count()).select_from(Contact)) == 1


def test_a_replayed_error_is_the_same_error(api, db):
    contact = create_contact(db, "c@example.org")
    db.commit()
    headers = {"Idempotency-Key": "conflict-key"}
    body = {"email": "c@example.org"}
    first = api.marketer.post("/api/v1/contacts", json=body, headers=headers)
    assert first.status_code == 409
    # Even after the conflict went away, the key answers as it did the first time.
    db.delete(contact)
    db.commit()
    again = api.marketer.post("/api/v1/contacts", json=body, headers=headers)
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (409, "true")
    assert again.mimetype == PROBLEM


def test_the_same_key_with_another_body_is_refused(api, db):
    headers = {"Idempotency-Key": "reused"}
    api.marketer.post("/api/v1/contacts", json={"email": "a@example.org"}, headers=headers)
    other = api.marketer.post("/api/v1/contacts", json={"email": "b@example.org"}, headers=headers)
    assert other.status_code == 422
    assert other.mimetype == PROBLEM
    assert other.get_json()["errors"][0]["field"] == "headers.Idempotency-Key"
    assert db.scalar(select(func.count()).select_from(Contact)) == 1


def test_keys_belong_to_their_user(api, db):
    headers = {"Idempotency-Key": "shared-words"}
    contact = create_contact(db, "c@example.org")
    db.commit()
    url = f"/api/v1/contacts/{contact.id}/consents"
    body = {"channel": "email", "status": "granted"}
    assert api.marketer.post(url, json=body, headers=headers).status_code == 201
    second = api.admin.post(url, json=body, headers=headers)
    assert second.status_code == 201 and "Idempotent-Replayed" not in second.headers
    assert db.scalar(select(func.count()).select_from(Consent)) == 2


def test_a_key_still_running_is_a_conflict_and_expires_after_a_day(api, db):
    contact = create_contact(db, "c@example.org")
    db.commit()
    url = f"/api/v1/contacts/{contact.id}/consents"
    body = {"channel": "email", "status": "granted"}
    headers = {"Idempotency-Key": "slow"}
    assert api.marketer.post(url, json=body, headers=headers).status_code == 201
    db.execute(update(IdempotencyRecord).values(status_code=None))
    db.commit()
    running = api.marketer.post(url, json=body, headers=headers)
    assert running.status_code == 409
    assert running.headers["Retry-After"]

    db.execute(update(IdempotencyRecord).values(created_at=utcnow() - timedelta(hours=25)))
    db.commit()
    later = api.marketer.post(url, json=body, headers=headers)
    assert later.status_code == 201 and "Idempotent-Replayed" not in later.headers
    assert db.scalar(select(func.count()).select_from(Consent)) == 2


def test_invalid_requests_keep_no_key(api, db):
    headers = {"Idempotency-Key": "first-try-was-wrong"}
    invalid = api.marketer.post("/api/v1/contacts", json={"role": "wizard"}, headers=headers)
    assert invalid.status_code == 422
    valid = api.marketer.post("/api/v1/contacts", json={"email": "ok@example.org"}, headers=headers)
    assert valid.status_code == 201
    too_long = api.marketer.post(
        "/api/v1/contacts", json={"email": "x@example.org"}, headers={"Idempotency-Key": "k" * 256}
    )
    assert too_long.status_code == 400
    assert too_long.get_json()["errors"][0]["field"] == "headers.Idempotency-Key"


# --- rate limits ---------------------------------------------------------------------------


@pytest.fixture
def limited_app(database_url, tmp_path):
    """Another app (as another process would be) on the same database, with a low limit.

    The window is longer than any test run, so no test sees a window end mid-way.
    """

    def make():
        app = create_app(
            {
                "app": {"instance_path": str(tmp_path / "instance"), "secret_key": TEST_SECRET},
                "database": {"url": database_url},
                "api": {"rate_limit_requests": 3, "rate_limit_window_seconds": 10**9},
            }
        )
        app.config.update(TESTING=True)
        return app

    apps = [make(), make()]
    yield apps
    for app in apps:
        app.extensions["database"].dispose()


def test_rate_limit_headers_then_429_across_processes(limited_app, tokens):
    first, second = (ApiClient(app, tokens["viewer"]) for app in limited_app)
    remaining = []
    for client in (first, second, first):
        response = client.get("/api/v1/contacts")
        assert response.status_code == 200
        assert response.headers["RateLimit-Limit"] == "3"
        assert int(response.headers["RateLimit-Reset"]) > 0
        remaining.append(response.headers["RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    refused = second.get("/api/v1/contacts")
    assert refused.status_code == 429
    assert refused.mimetype == PROBLEM
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["RateLimit-Remaining"] == "0"
    # Another user's token has its own count.
    assert ApiClient(limited_app[0], tokens["marketer"]).get("/api/v1/contacts").status_code == 200


# --- tokens and cookies --------------------------------------------------------------------


def test_a_token_works_until_revoked_and_records_its_use(api, db, users, tokens):
    assert api.viewer.get("/api/v1/contacts").status_code == 200
    token = db.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(tokens["viewer"])))
    assert token.last_used_at is not None
    token.revoked_at = utcnow()
    db.commit()
    response = api.viewer.get("/api/v1/contacts")
    assert response.status_code == 401
    assert "invalid_token" in response.headers["WWW-Authenticate"]


def test_an_expired_token_is_refused(app, db, users):
    created = create_token(
        db, users["viewer"], "old", expires_in_days=1, now=utcnow() - timedelta(days=2)
    )
    db.commit()
    assert ApiClient(app, created.secret).get("/api/v1/contacts").status_code == 401


def test_a_disabled_users_token_is_refused(api, db, users):
    users["viewer"].is_active = False
    db.commit()
    assert api.viewer.get("/api/v1/contacts").status_code == 401


@pytest.mark.parametrize(
    "header", ["Basic dmlld2VyOnB3", "Bearer", "Bearer cm_not-a-real-token", "Token abc"]
)
def test_malformed_or_unknown_credentials_are_401(app, header):
    client = app.test_client(use_cookies=False)
    response = client.get("/api/v1/contacts", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.mimetype == PROBLEM


def test_the_session_cookie_is_never_accepted(app, users, db):
    browser = app.test_client()
    browser.login(users["admin"].email)
    assert browser.get("/settings/").status_code == 200  # signed in for the web UI
    response = browser.get("/api/v1/contacts")
    assert response.status_code == 401
    assert "does not accept the session cookie" in response.get_json()["detail"]
    posted = browser.post(
        "/api/v1/contacts",
        json={"email": "cookie@example.org"},
        headers={"X-CSRFToken": browser.csrf_token},
    )
    assert posted.status_code == 401
    assert db.scalar(select(func.count()).select_from(Contact)) == 0


# --- errors --------------------------------------------------------------------------------


def test_unknown_paths_and_methods_are_problems(api):
    missing = api.viewer.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert missing.mimetype == PROBLEM
    assert missing.get_json()["instance"] == "/api/v1/no-such-thing"
    wrong_method = api.viewer.request("PUT", "/api/v1/contacts", json={})
    assert wrong_method.status_code == 405
    assert wrong_method.mimetype == PROBLEM
    assert "GET" in wrong_method.headers["Allow"]


def test_a_server_error_is_a_problem_without_internals(app, api, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("campaign_manager.api.contacts.filtered_contacts", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = api.viewer.get("/api/v1/contacts")
    assert response.status_code == 500
    assert response.mimetype == PROBLEM
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


# --- the document and the docs -------------------------------------------------------------


def test_openapi_document_lists_every_api_route(app):
    client = app.test_client()
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    documented = {
        (path, method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    from tests.api.test_access import api_routes

    for rule, method in api_routes(app):
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        assert (path, method) in documented, f"{method} {path} is not in the document"


def test_docs_page_loads_nothing_from_elsewhere(app):
    client = app.test_client()
    response = client.get("/api/docs")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "/api/v1/contacts/{contact_id}" in page
    assert "Idempotency-Key" in page
    assert not re.search(r"""(?:src|href)=["'](?:https?:)?//""", page)


def test_unknown_query_parameters_and_ids_out_of_range(api):
    typo = api.viewer.get("/api/v1/contacts?rol=student")
    assert typo.status_code == 422
    assert typo.get_json()["errors"][0]["field"] == "query.rol"
    huge = api.viewer.get(f"/api/v1/contacts/{2**63}")
    assert huge.status_code == 404
    assert huge.mimetype == PROBLEM
    assert api.marketer.patch(f"/api/v1/contacts/{2**63}", json={}).status_code == 404


def test_nul_in_a_query_is_a_field_problem_not_an_html_page(api):
    response = api.viewer.get("/api/v1/contacts?school=Lincoln%00High")
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    assert response.get_json()["errors"][0]["field"] == "query.school"
