"""The public pages behind links in messages: one-click unsubscribe and the preference centre.

`/u/<token>`: GET shows a confirmation page and changes nothing, because mail scanners and
link previews follow links. POST with the body `List-Unsubscribe=One-Click` (RFC 8058, sent
by mailbox providers and by the page's own button) unsubscribes at once and answers 200:
no sign-in, no CSRF token (the signed token is the proof), no redirect.

`/p/<token>`: the preference centre, an ordinary form (with CSRF) to choose channels or
resubscribe.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_wtf import FlaskForm
from wtforms import BooleanField

from audiences.models import ConsentChannel, Contact
from audiences.unsubscribe import (
    preferences_of,
    preferences_path,
    read_preferences_token,
    read_unsubscribe_token,
    save_preferences,
    unsubscribe,
)
from campaign_manager.extensions import csrf, db, token_signer
from campaign_manager.web.authz import public

bp = Blueprint("unsubscribe", __name__)

ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"


def _masked(email: str | None) -> str:
    """j•••@example.org: enough for the reader to recognise, little for a forwardee."""
    if not email or "@" not in email:
        return "your address"
    local, domain = email.split("@", 1)
    return f"{local[:1]}•••@{domain}"


def _invalid_link():
    return render_template("audiences/link_invalid.html", title="Link not valid"), 404


@bp.route("/u/<token>", methods=["GET", "POST"])
@public
def one_click(token: str):
    link = read_unsubscribe_token(token_signer(), token)
    if link is None:
        return _invalid_link()
    contact = db.session.get(Contact, link.contact_id)
    preferences_url = preferences_path(token_signer(), link.contact_id) if contact else None
    if request.method == "GET":
        return render_template(
            "audiences/unsubscribe.html",
            title="Unsubscribe",
            address=_masked(contact.email if contact else None),
            one_click=(ONE_CLICK_FIELD, ONE_CLICK_VALUE),
        )
    if request.form.get(ONE_CLICK_FIELD) != ONE_CLICK_VALUE:
        return (
            render_template(
                "audiences/link_invalid.html",
                title="Not unsubscribed",
                explanation="The request did not say List-Unsubscribe=One-Click. "
                "Use the button on the unsubscribe page.",
            ),
            400,
        )
    unsubscribe(db.session, link, ip=request.remote_addr)
    db.session.commit()
    return render_template(
        "audiences/unsubscribed.html", title="Unsubscribed", preferences_url=preferences_url
    )


# A forged unsubscribe costs the attacker a valid signed token, which is the point of it.
csrf.exempt(one_click)


class PreferencesForm(FlaskForm):
    email = BooleanField("Emails about scholarships, training and careers")
    print = BooleanField("Printed mail")


@bp.route("/preferences/<token>", methods=["GET", "POST"])
@public
def preferences(token: str):
    contact_id = read_preferences_token(token_signer(), token)
    contact = db.session.get(Contact, contact_id) if contact_id is not None else None
    if contact is None:
        return _invalid_link()
    form = PreferencesForm()
    saved = False
    if form.validate_on_submit():
        current = save_preferences(
            db.session,
            contact,
            {ConsentChannel.EMAIL: form.email.data, ConsentChannel.PRINT: form.print.data},
            ip=request.remote_addr,
        )
        db.session.commit()
        saved = True
    else:
        current = preferences_of(db.session, contact)
    if request.method == "GET" or saved:
        form.email.data = current.subscribed[ConsentChannel.EMAIL]
        form.print.data = current.subscribed[ConsentChannel.PRINT]
    return render_template(
        "audiences/preferences.html",
        title="Your preferences",
        form=form,
        address=_masked(contact.email),
        blocked=current.email_blocked_reason,
        saved=saved,
    )
