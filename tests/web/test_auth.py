from campaign_manager.core.accounts import LoginThrottle
from tests.conftest import TEST_PASSWORD


def test_login_form_signs_in_and_shows_the_dashboard(client, users):
    client.login("marketer@example.org")
    page = client.get("/").get_data(as_text=True)
    assert "<h1>Dashboard</h1>" in page
    assert "marketer@example.org" in page


def test_wrong_password_rerenders_with_a_message(client, users):
    token = client.fetch_csrf_token("/login")
    response = client.post(
        "/login",
        data={"email": "marketer@example.org", "password": "nope-nope-nope", "csrf_token": token},
    )
    assert response.status_code == 200
    assert "Wrong email or password." in response.get_data(as_text=True)


def test_post_without_csrf_token_is_rejected_with_400(client, users):
    response = client.post(
        "/login", data={"email": "marketer@example.org", "password": TEST_PASSWORD}
    )
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    # and the user is not signed in
    assert client.get("/").status_code == 302


def test_signed_in_post_without_csrf_token_is_rejected(client, users):
    client.login("admin@example.org")
    response = client.post("/settings/organizations", data={"name": "X", "kind": "school"})
    assert response.status_code == 400


def test_missing_fields_get_field_errors_not_a_stack_trace(client, users):
    token = client.fetch_csrf_token("/login")
    response = client.post("/login", data={"email": "", "password": "", "csrf_token": token})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "This field is required." in page and "Traceback" not in page


def test_anonymous_is_sent_to_login_and_back(client, users):
    response = client.get("/settings/users")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    token = client.fetch_csrf_token(response.headers["Location"])
    response = client.post(
        "/login",
        data={
            "email": "admin@example.org",
            "password": TEST_PASSWORD,
            "csrf_token": token,
            "next": "/settings/users",
        },
    )
    assert response.headers["Location"] == "/settings/users"


def test_next_cannot_redirect_off_site(app, users):
    for evil in ("https://evil.example.com/", "//evil.example.com/", "/\\evil.example.com"):
        client = app.test_client()
        token = client.fetch_csrf_token("/login")
        response = client.post(
            "/login",
            data={
                "email": "viewer@example.org",
                "password": TEST_PASSWORD,
                "csrf_token": token,
                "next": evil,
            },
        )
        assert response.headers["Location"] == "/", evil


def test_repeated_failures_lock_with_a_clear_message(client, users, db):
    messages = []
    for _ in range(8):
        token = client.fetch_csrf_token("/login")
        response = client.post(
            "/login",
            data={"email": "viewer@example.org", "password": "bad-password!", "csrf_token": token},
        )
        messages.append((response.status_code, response.get_data(as_text=True)))
    assert messages[0][0] == 200
    # The third failure starts the slowdown: the next try is refused with 429 and a wait.
    assert any(status == 429 and "before trying again" in page for status, page in messages)
    throttle = db.get(LoginThrottle, "viewer@example.org")
    assert throttle is not None and throttle.failures >= 3
    # Even the right password is refused while throttled.
    token = client.fetch_csrf_token("/login")
    response = client.post(
        "/login",
        data={"email": "viewer@example.org", "password": TEST_PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 429


def test_session_cookie_flags(client, users):
    token = client.fetch_csrf_token("/login")
    response = client.post(
        "/login",
        data={"email": "viewer@example.org", "password": TEST_PASSWORD, "csrf_token": token},
    )
    cookie = next(
        v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith("cm_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_session_id_changes_at_login(client, users):
    client.fetch_csrf_token("/login")
    before = client.get_cookie("cm_session").value
    client.login("viewer@example.org")
    assert client.get_cookie("cm_session").value != before


def test_logout_needs_post_and_signs_out(client, users):
    client.login("viewer@example.org")
    assert client.get("/logout").status_code == 405
    response = client.post_form("/logout")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_a_session_cookie_copied_before_sign_out_is_worthless_after_it(app, client, users):
    client.login("viewer@example.org")
    copied = client.get_cookie("cm_session").value
    thief = app.test_client()
    thief.set_cookie("cm_session", copied)
    assert thief.get("/").status_code == 200  # the copy works while the session lasts
    client.post_form("/logout")
    assert thief.get("/").status_code == 302
    assert "/login" in thief.get("/").headers["Location"]
    # Signing in again starts a new session that works.
    client.login("viewer@example.org")
    assert client.get("/").status_code == 200


def test_disabled_user_loses_access_at_once(client, users, db):
    client.login("viewer@example.org")
    users["viewer"].is_active = False
    db.commit()
    assert client.get("/").status_code == 302
