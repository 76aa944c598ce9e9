from sqlalchemy import select

from campaign_manager.core.accounts import Organization, User


def test_admin_creates_a_user_who_can_sign_in(client, users, app):
    client.login("admin@example.org")
    response = client.post_form(
        "/settings/users",
        {
            "email": "new.marketer@example.org",
            "role": "marketer",
            "vendor_id": "0",
            "password": "a-long-password",
        },
    )
    assert response.status_code == 302
    other = app.test_client()
    other.login("new.marketer@example.org", "a-long-password")


def test_user_form_errors_rerender_beside_the_field(client, users, db):
    client.login("admin@example.org")
    response = client.post_form(
        "/settings/users",
        {
            "email": "v@example.org",
            "role": "vendor",
            "vendor_id": "0",
            "password": "a-long-password",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "must belong to a vendor company" in page
    assert db.scalar(select(User).where(User.email == "v@example.org")) is None


def test_viewer_posting_to_a_marketer_route_gets_403(client, users, db):
    client.login("viewer@example.org")
    response = client.post_form("/settings/organizations", {"name": "Sneaky", "kind": "school"})
    assert response.status_code == 403
    assert db.scalar(select(Organization).where(Organization.name == "Sneaky")) is None


def test_marketer_adds_an_organisation(client, users, db):
    client.login("marketer@example.org")
    response = client.post_form(
        "/settings/organizations",
        {"name": "Lincoln High School", "kind": "school", "region": "Ohio"},
    )
    assert response.status_code == 302
    assert db.scalar(select(Organization).where(Organization.name == "Lincoln High School"))


def test_organisation_website_must_be_http(client, users, db):
    client.login("marketer@example.org")
    response = client.post_form(
        "/settings/organizations",
        {"name": "Evil", "kind": "school", "website": "javascript:alert(1)"},
    )
    assert response.status_code == 400
    assert "http:// or https://" in response.get_data(as_text=True)
    assert db.scalar(select(Organization).where(Organization.name == "Evil")) is None


def test_change_own_password(client, users, app):
    client.login("viewer@example.org")
    response = client.post_form(
        "/settings/",
        {
            "current_password": "wrong-password",
            "new_password": "another-long-one",
            "confirm": "another-long-one",
        },
    )
    assert "not your current password" in response.get_data(as_text=True)
    response = client.post_form(
        "/settings/",
        {
            "current_password": "test-password-123",
            "new_password": "another-long-one",
            "confirm": "another-long-one",
        },
    )
    assert response.status_code == 302
    app.test_client().login("viewer@example.org", "another-long-one")


def test_a_new_password_signs_out_every_other_session(app, client, users):
    client.login("viewer@example.org")
    elsewhere = app.test_client()
    elsewhere.login("viewer@example.org")
    response = client.post_form(
        "/settings/",
        {
            "current_password": "test-password-123",
            "new_password": "another-long-one",
            "confirm": "another-long-one",
        },
        follow_redirects=True,
    )
    assert "Other sessions are signed out" in response.get_data(as_text=True)
    assert client.get("/").status_code == 200  # the session that changed it goes on
    assert elsewhere.get("/").status_code == 302


def test_admin_cannot_disable_self(client, users, db):
    client.login("admin@example.org")
    client.post_form(f"/settings/users/{users['admin'].id}/toggle-active")
    db.expire_all()
    assert db.get(User, users["admin"].id).is_active


def test_navigation_shows_only_what_the_role_may_open(client, users):
    client.login("vendor@example.org")
    page = client.get("/print-jobs").get_data(as_text=True)
    assert ">Print jobs<" in page and ">Audiences<" not in page and ">Campaigns<" not in page
    client.post_form("/logout")
    client.login("marketer@example.org")
    page = client.get("/").get_data(as_text=True)
    for label in (
        "Dashboard",
        "Audiences",
        "Creatives",
        "Campaigns",
        "Calendar",
        "Channels",
        "Print jobs",
        "Settings",
    ):
        assert f">{label}<" in page
