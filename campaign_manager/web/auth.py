"""Sign in and sign out."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, Length

from campaign_manager.core.accounts import ThrottlePolicy, User, authenticate
from campaign_manager.extensions import db, login_manager
from campaign_manager.web.authz import EVERYONE, public, requires_role

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])
    next = HiddenField()


def init_login(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.login_message_category = "info"
    # Drops the session if it is replayed from another browser fingerprint.
    login_manager.session_protection = "strong"


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """The user of a session cookie, `<user id>.<session generation>` (User.get_id).

    Flask's session cookie is signed, not stored: signing out cannot delete a copy of it.
    So a cookie names the generation it was issued in, and signing out raises the user's.
    """
    user_id, _, generation = session_id.partition(".")
    if not (user_id.isdigit() and generation.isdigit()):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.is_active or user.session_generation != int(generation):
        return None
    return user


def safe_next_url(target: str | None) -> str | None:
    """Only same-site paths; never an absolute URL or //host that would redirect off-site."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target:
        return None
    return target


def throttle_policy() -> ThrottlePolicy:
    security = current_app.extensions["settings"].security
    return ThrottlePolicy(
        slowdown_after=security.login_slowdown_after,
        lockout_after=security.login_lockout_after,
        lockout=timedelta(minutes=security.login_lockout_minutes),
    )


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    status = 200
    if form.validate_on_submit():
        result = authenticate(db.session, form.email.data, form.password.data, throttle_policy())
        db.session.commit()
        if result.ok:
            # A fresh session on sign-in, so a planted session id is worth nothing.
            session.clear()
            login_user(result.user)
            session.permanent = True
            return redirect(safe_next_url(form.next.data) or url_for("main.dashboard"))
        flash(result.message, "error")
        status = 429 if result.wait_seconds or result.locked else 200
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@requires_role(*EVERYONE)
def logout():
    current_user.end_sessions()
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
