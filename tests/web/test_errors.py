import pytest


def test_404_page_is_in_the_layout(client, users):
    client.login("viewer@example.org")
    response = client.get("/no-such-page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Not found" in page and 'aria-label="Main"' in page


def test_403_page_is_in_the_layout(client, users):
    client.login("viewer@example.org")
    response = client.get("/settings/users")
    assert response.status_code == 403
    assert "Not allowed" in response.get_data(as_text=True)


def test_500_page_hides_the_exception(app, client, users):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom-for-test")
    def boom():
        raise RuntimeError("secret internals")

    response = client.get("/boom-for-test")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Something went wrong" in page
    assert "secret internals" not in page and "Traceback" not in page


@pytest.mark.parametrize(
    "header", ["X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy"]
)
def test_security_headers(client, header):
    assert header in client.get("/login").headers


def test_a_nul_character_in_a_form_or_url_is_refused_with_a_message(client, users, db):
    from sqlalchemy import func, select

    from campaign_manager.core.accounts import Vendor

    client.login("admin@example.org")
    vendors = db.scalar(select(func.count()).select_from(Vendor))
    response = client.post_form(
        "/settings/vendors", {"name": "Print\x00Co", "contact_email": "a@b.org"}
    )
    assert response.status_code == 400
    assert "NUL character" in response.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(Vendor)) == vendors
    for url in ("/p/a%00b", "/audiences/?q=a%00b"):
        response = client.get(url)
        assert response.status_code == 400 and "NUL character" in response.get_data(as_text=True)
