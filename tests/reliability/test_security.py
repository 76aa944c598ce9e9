"""Security checks that walk the app: CSRF on every state-changing route, the click
tracker as an open redirect, vendor isolation by id guessing, path traversal in downloads,
secrets in pages and logs, and session fixation at login.

The role x route matrix lives in tests/web/test_access_matrix.py (also marked
`reliability`).
"""

from __future__ import annotations

import logging
import re
import string
from urllib.parse import quote

import pytest
from flask import url_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from campaign_manager.api.auth import TOKEN_AUTH_ATTR
from campaign_manager.campaigns.tracking import CLICK_PURPOSE, OPEN_PURPOSE, click_token
from campaign_manager.channels.print_jobs import PrintJob
from campaign_manager.core.api_tokens import create_token
from campaign_manager.core.security import TokenSigner
from tests.channels.print_samples import make_print_job, make_print_samples
from tests.channels.smtp_server import free_port
from tests.conftest import TEST_PASSWORD, TEST_SECRET
from tests.web.route_walk import build_url, routes

pytestmark = [pytest.mark.reliability, pytest.mark.sqlite_only]

CSRF_MESSAGE = "without a valid security token"

# Routes that take a POST without a CSRF token, and why. Anything else must refuse one.
CSRF_EXEMPT = {
    "unsubscribe.one_click": "RFC 8058 one-click unsubscribe: the mail client POSTs "
    "List-Unsubscribe=One-Click with no session; the signed token in the URL is the "
    "authorisation",
    "webhooks.receive": "providers POST delivery events; each account's secret URL token "
    "and the provider's own signature authenticate them, and no browser session is used",
}
# The REST API (views marked with TOKEN_AUTH_ATTR) is exempt too: it authenticates with
# bearer tokens, which a cross-site page cannot send, and never with the session cookie;
# the test below checks that the cookie alone gets a 401 there.
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def is_exempt(endpoint: str) -> bool:
    return endpoint in CSRF_EXEMPT


# --- CSRF --------------------------------------------------------------------------------


def test_every_state_changing_route_refuses_a_post_without_a_csrf_token(app, samples):
    client = app.test_client()
    client.login(samples.users["admin"].email)
    refused, exempt = [], []
    for rule, method in routes(app):
        if method != "POST":
            continue
        url = build_url(app, rule, samples)
        response = client.post(url, data={"name": "no token"})
        if is_exempt(rule.endpoint):
            # The exemption is real (the list says what the app does), and the route
            # still answers without a server error.
            assert response.status_code < 500, f"POST {url}: {response.status_code}"
            assert CSRF_MESSAGE not in response.get_data(as_text=True), url
            exempt.append(rule.endpoint)
            continue
        assert response.status_code == 400, f"POST {url} without a token: {response.status_code}"
        assert CSRF_MESSAGE in response.get_data(as_text=True), url
        refused.append(rule.endpoint)
    assert set(exempt) == set(CSRF_EXEMPT), "an exemption names a route that no longer exists"
    assert len(refused) >= 40
    # The API's exemption holds only because the session cookie does not open it.
    api_routes = [
        (rule, method)
        for rule in app.url_map.iter_rules()
        if getattr(app.view_functions[rule.endpoint], TOKEN_AUTH_ATTR, False)
        for method in sorted(rule.methods & STATE_CHANGING)
    ]
    for rule, method in api_routes:
        with app.test_request_context():
            url = url_for(rule.endpoint, **dict.fromkeys(rule.arguments, 1))
        response = client.open(url, method=method, json={})
        assert response.status_code == 401, f"{method} {url} with only the session cookie"
    assert len(api_routes) >= 5
    # A token from another session is no better than none.
    other = app.test_client()
    stolen = other.fetch_csrf_token("/login")
    response = client.post("/settings/organizations", data={"csrf_token": stolen, "name": "X"})
    assert response.status_code == 400


# --- the click tracker ---------------------------------------------------------------------


@pytest.fixture
def delivery_id(samples):
    return samples.campaigns.delivery.id


@given(token=st.text(alphabet=string.ascii_letters + string.digits + "-_.~:%", max_size=120))
@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_the_click_tracker_never_redirects_on_a_token_it_did_not_sign(client, samples, token):
    response = client.get("/c/" + quote(token, safe=""))
    assert response.status_code in (404, 308), response.status_code
    if response.status_code == 308:  # werkzeug normalising the path, still on this site
        assert (
            response.headers["Location"].startswith("/")
            or "cm.example.org" in (response.headers["Location"])
        )
    else:
        assert "Location" not in response.headers


@pytest.mark.parametrize(
    "target",
    [
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "//evil.example/phish",
        "/\\evil.example/phish",
        "https:evil.example",
        "evil.example",
        "ftp://evil.example/",
        "",
    ],
)
def test_a_signed_link_to_anything_but_a_web_address_is_not_followed(client, delivery_id, target):
    token = click_token(TokenSigner(TEST_SECRET), delivery_id, target)
    response = client.get(f"/c/{token}")
    assert response.status_code == 404 and "Location" not in response.headers


def test_tokens_from_another_purpose_or_key_or_tampered_are_not_followed(client, delivery_id):
    payload = {"d": delivery_id, "u": "https://evil.example/"}
    ours = TokenSigner(TEST_SECRET)
    tokens = [
        ours.sign(OPEN_PURPOSE, payload),  # the open pixel's token
        ours.sign("unsubscribe", payload),
        TokenSigner("another-secret-key-of-enough-length").sign(CLICK_PURPOSE, payload),
    ]
    good = click_token(ours, delivery_id, "https://careers.example.org/apply")
    body, _, signature = good.rpartition(".")
    tokens.append(body.replace(body[2], "x" if body[2] != "x" else "y") + "." + signature)
    for token in tokens:
        response = client.get(f"/c/{token}")
        assert response.status_code == 404 and "Location" not in response.headers, token
    # Query parameters cannot steer where a good link goes.
    response = client.get(f"/c/{good}?next=https://evil.example/&url=https://evil.example/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("https://careers.example.org/apply")


# --- vendor isolation ----------------------------------------------------------------------


def test_a_vendor_never_sees_another_vendors_job_whatever_the_id(app, db, users):
    print_samples = make_print_samples(db)
    mine = make_print_job(db, print_samples, "mine", variants=["lincoln-high"])
    theirs = make_print_job(db, print_samples, "theirs", vendor=print_samples.other_vendor)
    db.expire_all()
    status_before = db.get(PrintJob, theirs.id).status
    client = app.test_client()
    client.login(users["vendor"].email)
    listing = client.get("/print-jobs").get_data(as_text=True)
    assert f"/print-jobs/{theirs.id}" not in listing and f"/print-jobs/{mine.id}" in listing
    last_id = db.scalar(select(PrintJob.id).order_by(PrintJob.id.desc()).limit(1))
    for job_id in range(0, last_id + 4):
        own = job_id == mine.id
        pages = [f"/print-jobs/{job_id}"] + [
            f"/print-jobs/{job_id}/files/{position}" for position in range(6)
        ]
        for url in pages:
            status = client.get(url).status_code
            assert status in ((200, 404) if own else (404,)), f"GET {url}: {status}"
        for action in ("accept", "reject", "printed", "shipped"):
            response = client.post_form(f"/print-jobs/{job_id}/{action}", {"reason": "x"})
            if not own:
                assert response.status_code == 404, f"POST {action} {job_id}"
    # The same guessing through the API, with the vendor's own token.
    secret = create_token(db, users["vendor"], "id guessing").secret
    db.commit()
    bearer = {"Authorization": f"Bearer {secret}"}
    listed = client.get("/api/v1/print-jobs", headers=bearer).get_json()["data"]
    assert [job["id"] for job in listed] == [mine.id]
    for job_id in range(1, last_id + 4):
        status = client.get(f"/api/v1/print-jobs/{job_id}", headers=bearer).status_code
        assert status == (200 if job_id == mine.id else 404), f"API job {job_id}: {status}"
    db.expire_all()
    assert db.get(PrintJob, theirs.id).status == status_before


# --- path traversal ------------------------------------------------------------------------

TRAVERSALS = [
    "../secret-marker.txt",
    "..%2fsecret-marker.txt",
    "%2e%2e%2fsecret-marker.txt",
    "%2e%2e/%2e%2e/secret-marker.txt",
    "..%5csecret-marker.txt",
    "....//secret-marker.txt",
    "%252e%252e%252fsecret-marker.txt",
    "/etc/passwd",
    "..%00.jpg",
]


def test_downloads_do_not_walk_out_of_their_folders(app, client, samples, instance_path):
    marker = "TRAVERSAL-MARKER-7d1f"
    (instance_path / "secret-marker.txt").write_text(marker)
    (instance_path.parent / "secret-marker.txt").write_text(marker)
    client.login(samples.users["admin"].email)
    account = samples.channel_account.id
    job = samples.print_job.id
    prefixes = [
        "/media/",
        "/static/",
        "/static/../",
        f"/channels/{account}/sandbox/",
        "/p/",
        f"/print-jobs/{job}/files/",
        "/creatives/assets/",
        f"/channels/{account}/sandbox/../../",
    ]
    for prefix in prefixes:
        for attempt in TRAVERSALS:
            url = prefix + attempt
            response = client.get(url)
            body = response.get_data(as_text=True)
            assert response.status_code in (404, 400, 308), f"GET {url}: {response.status_code}"
            assert marker not in body and "root:x:0:0" not in body, url
            if response.status_code == 308:
                assert marker not in client.get(response.headers["Location"]).get_data(as_text=True)


# --- secrets -------------------------------------------------------------------------------


def test_secrets_stay_out_of_pages_and_logs(app, db, samples, make_account, caplog):
    caplog.set_level(logging.DEBUG)
    smtp_password = "smtp-Pa55word-do-not-show-9x"
    dkim_key = "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkq-not-shown"
    account = make_account(
        "smtp",
        settings={"host": "127.0.0.1", "port": free_port(), "security": "none"},
        credentials={"username": "mailer", "password": smtp_password},
        name="SMTP with a password",
    )
    client = app.test_client()
    # A wrong password, then the right one: neither may be logged.
    token = client.fetch_csrf_token("/login")
    client.post(
        "/login",
        data={
            "email": "admin@example.org",
            "password": "wrong-" + TEST_PASSWORD,
            "csrf_token": token,
        },
    )
    client.login(samples.users["admin"].email)
    # Credentials entered through the form, then a failing connection test.
    response = client.post_form(
        "/channels/new/smtp",
        {
            "display_name": "Entered in the form",
            "s_host": "127.0.0.1",
            "s_port": str(free_port()),
            "s_security": "none",
            "s_username": "mailer",
            "s_password": smtp_password,
            "s_dkim_private_key": dkim_key,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    # A rejected form (no host) does not echo the secrets back either.
    rejected = client.post_form(
        "/channels/new/smtp",
        {
            "display_name": "Missing host",
            "s_password": smtp_password,
            "s_dkim_private_key": dkim_key,
        },
    )
    assert rejected.status_code == 400
    pages = {"the rejected form": rejected.get_data()}
    client.post_form(f"/channels/{account.id}/test")
    secrets = [
        TEST_SECRET,
        TEST_PASSWORD,
        smtp_password,
        dkim_key,
        samples.users["admin"].password_hash,
        client.get_cookie("cm_session").value,
    ]
    for rule, method in routes(app):
        if method == "GET" and rule.endpoint not in ("static", "auth.logout"):
            url = build_url(app, rule, samples)
            pages[url] = client.get(url).get_data()
    for url in (f"/channels/{account.id}", f"/channels/{account.id}/edit"):
        pages[url] = client.get(url).get_data()
    for url, body in pages.items():
        for secret in secrets:
            assert secret.encode() not in body, f"a secret on {url}"
    logged = "\n".join(
        record.getMessage() + repr(record.args) + (record.exc_text or "")
        for record in caplog.records
    )
    assert caplog.records, "nothing was logged; the check would prove nothing"
    for secret in secrets:
        assert secret not in logged


# --- session fixation ----------------------------------------------------------------------


def test_a_session_planted_before_login_is_worth_nothing_after_it(app, users):
    attacker = app.test_client()
    attacker.fetch_csrf_token("/login")
    planted = attacker.get_cookie("cm_session").value
    victim = app.test_client()
    victim.set_cookie("cm_session", planted)
    victim.login(users["admin"].email)
    assert victim.get_cookie("cm_session").value != planted
    assert victim.get("/").status_code == 200
    # The attacker, still holding the planted cookie, is not signed in.
    response = attacker.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert re.search(r"Sign in", attacker.get("/login").get_data(as_text=True))
