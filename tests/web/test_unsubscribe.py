"""The links in messages: one-click unsubscribe (RFC 8058) and the preference centre."""

from sqlalchemy import func, select

from audiences.models import Consent, ConsentChannel, ConsentStatus, Suppression, SuppressionReason
from audiences.privacy import erase_contact
from audiences.suppression import suppress, suppression_for
from audiences.unsubscribe import preferences_path, unsubscribe_path
from tests.audiences.conftest import add_contact

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def signer(app):
    return app.extensions["token_signer"]


def consents(db, contact):
    return db.scalars(
        select(Consent).where(Consent.contact_id == contact.id).order_by(Consent.id)
    ).all()


def test_get_shows_a_confirmation_button_and_changes_nothing(app, client, db):
    contact = add_contact(db, "reader@example.org")
    path = unsubscribe_path(signer(app), contact.id, campaign_id=7)
    assert path.startswith("/u/")
    page = client.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "r•••@example.org" in html and "reader@example.org" not in html
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in html
    assert "csrf_token" not in html
    assert suppression_for(db, contact) is None and consents(db, contact) == []


def test_one_click_post_unsubscribes_at_once_without_login_or_csrf(app, client, db):
    contact = add_contact(db, "reader@example.org")
    path = unsubscribe_path(signer(app), contact.id, campaign_id=7)
    # Exactly what a mailbox provider sends (RFC 8058 section 3.2).
    response = client.post(
        path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert "You are unsubscribed" in response.get_data(as_text=True)
    db.expire_all()
    entry = suppression_for(db, contact)
    assert (entry.reason, entry.source) == (
        SuppressionReason.UNSUBSCRIBED,
        "one-click unsubscribe (campaign #7)",
    )
    [withdrawal] = consents(db, contact)
    assert (withdrawal.channel, withdrawal.status, withdrawal.ip) == (
        ConsentChannel.EMAIL,
        ConsentStatus.WITHDRAWN,
        "127.0.0.1",
    )
    # Again, as multipart (some providers send that): still 200, nothing recorded twice.
    again = client.post(path, data=ONE_CLICK, content_type="multipart/form-data")
    assert again.status_code == 200
    assert len(consents(db, contact)) == 1
    assert db.scalar(select(func.count()).select_from(Suppression)) == 1


def test_csrf_stays_on_for_everything_else(app, client, db):
    contact = add_contact(db, "reader@example.org")
    response = client.post(preferences_path(signer(app), contact.id), data={"email": "y"})
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)


def test_forged_foreign_or_incomplete_requests_change_nothing(app, client, db):
    contact = add_contact(db, "reader@example.org")
    good = unsubscribe_path(signer(app), contact.id)
    forged = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    assert client.post(forged, data=ONE_CLICK).status_code == 404
    preferences = preferences_path(signer(app), contact.id)
    assert (
        client.post("/u/" + preferences.removeprefix("/preferences/"), data=ONE_CLICK).status_code
        == 404
    )
    assert client.get("/preferences/" + good.removeprefix("/u/")).status_code == 404
    no_body = client.post(good)
    assert no_body.status_code == 400 and "List-Unsubscribe=One-Click" in no_body.get_data(
        as_text=True
    )
    assert suppression_for(db, contact) is None and consents(db, contact) == []


def test_a_link_for_an_erased_contact_still_answers_200(app, client, db):
    contact = add_contact(db, "gone@example.org")
    path = unsubscribe_path(signer(app), contact.id)
    erase_contact(db, contact, source="request")
    db.commit()
    assert client.get(path).status_code == 200
    assert client.post(path, data=ONE_CLICK).status_code == 200


def test_the_preference_centre_resubscribes_and_chooses_channels(app, client, db):
    contact = add_contact(db, "reader@example.org")
    client.post(unsubscribe_path(signer(app), contact.id), data=ONE_CLICK)
    path = preferences_path(signer(app), contact.id)
    page = client.get(path).get_data(as_text=True)
    assert (
        'id="email"' in page
        and 'id="email" name="email" type="checkbox" value="y" checked' not in page
    )
    client.fetch_csrf_token(path)
    response = client.post_form(path, {"email": "y", "print": "y"})
    assert response.status_code == 200 and "Your choices are saved" in response.get_data(
        as_text=True
    )
    db.expire_all()
    assert suppression_for(db, contact) is None
    latest = consents(db, contact)[-2:]
    assert [(c.channel, c.status, c.source) for c in latest] == [
        (ConsentChannel.EMAIL, ConsentStatus.GRANTED, "preference centre"),
        (ConsentChannel.PRINT, ConsentStatus.GRANTED, "preference centre"),
    ]
    # Unticking email unsubscribes again.
    client.post_form(path, {"print": "y"})
    db.expire_all()
    assert suppression_for(db, contact).reason is SuppressionReason.UNSUBSCRIBED


def test_a_bounced_address_is_not_lifted_by_the_contact(app, client, db):
    contact = add_contact(db, "bounce@example.org")
    suppress(db, contact, SuppressionReason.BOUNCED, "webhook")
    db.commit()
    path = preferences_path(signer(app), contact.id)
    client.fetch_csrf_token(path)
    page = client.post_form(path, {"email": "y"}).get_data(as_text=True)
    assert "Emails to this address stopped (bounced)" in page
    db.expire_all()
    assert suppression_for(db, contact).reason is SuppressionReason.BOUNCED
