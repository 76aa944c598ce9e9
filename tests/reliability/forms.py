"""The app's forms, found by walking its pages, and the checks a bad submission must pass.

Every page the URL map can build (tests/web/route_walk.py) is fetched as an admin and
every `<form method="post">` on it is read: its action and fields (inputs, text areas,
selects with their options). The form fuzzing and XSS tests post to all of them, so a new
form is covered the day its page exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign_manager.models import metadata
from tests.web.route_walk import build_url, routes

# Signs the walker out, or only streams files: nothing to learn from posting to them.
SKIPPED_ENDPOINTS = {"auth.logout", "auth.login"}
# Fields a person does not type into.
NOT_TYPED = {"hidden", "submit", "button", "file", "image", "reset"}


@dataclass
class FormField:
    name: str
    kind: str  # the input type, "textarea" or "select"
    options: list[str] = field(default_factory=list)


@dataclass
class Form:
    page: str
    action: str
    fields: dict[str, FormField] = field(default_factory=dict)
    hidden: dict[str, str] = field(default_factory=dict)
    multipart: bool = False

    @property
    def typed_fields(self) -> list[FormField]:
        return [f for f in self.fields.values() if f.kind not in NOT_TYPED]


class _FormParser(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page
        self.forms: list[Form] = []
        self.current: Form | None = None
        self.select: FormField | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            if a.get("method", "get").lower() == "post":
                self.current = Form(
                    page=self.page,
                    action=a.get("action") or self.page,
                    multipart="multipart" in a.get("enctype", ""),
                )
            return
        if self.current is None or not a.get("name"):
            if tag == "option" and self.select is not None:
                self.select.options.append(a.get("value", ""))
            return
        name = a["name"]
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind == "hidden":
                self.current.hidden[name] = a.get("value", "")
            else:
                known = self.current.fields.get(name)
                if known and kind in ("radio", "checkbox"):
                    known.options.append(a.get("value", "on"))
                else:
                    options = [a.get("value", "on")] if kind in ("radio", "checkbox") else []
                    self.current.fields[name] = FormField(name, kind, options)
        elif tag == "textarea":
            self.current.fields[name] = FormField(name, "textarea")
        elif tag == "select":
            self.select = self.current.fields[name] = FormField(name, "select")

    def handle_endtag(self, tag):
        if tag == "form" and self.current is not None:
            self.forms.append(self.current)
            self.current = None
        elif tag == "select":
            self.select = None


def forms_on(page: str, html: str) -> list[Form]:
    parser = _FormParser(page)
    parser.feed(html)
    return parser.forms


def html_pages(app: Flask, client, samples) -> dict[str, str]:
    """Every GET route's page (HTML only), as the signed-in client sees it."""
    pages = {}
    for rule, method in routes(app):
        if method != "GET" or rule.endpoint == "static":
            continue
        url = build_url(app, rule, samples)
        response = client.get(url)
        if response.mimetype == "text/html" and response.status_code == 200:
            pages[url] = response.get_data(as_text=True)
    return pages


def app_forms(app: Flask, client, samples) -> list[Form]:
    """Each distinct post form of the app (by action and field names), found once per app."""
    if "reliability_forms" not in app.extensions:
        endpoints = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}
        found: dict[tuple, Form] = {}
        for page, html in html_pages(app, client, samples).items():
            for form in forms_on(page, html):
                with app.test_request_context():
                    adapter = app.url_map.bind("cm.example.org")
                    try:
                        endpoint, _ = adapter.match(form.action.split("?")[0], method="POST")
                    except Exception:  # an action outside the app (never expected)
                        endpoint = endpoints.get(form.action, "")
                if endpoint in SKIPPED_ENDPOINTS:
                    continue
                found.setdefault((form.action, tuple(sorted(form.fields))), form)
        app.extensions["reliability_forms"] = list(found.values())
    return app.extensions["reliability_forms"]


# --- the checks --------------------------------------------------------------------------

MESSAGE_MARKERS = (
    'class="errors"',
    'class="form-errors"',
    'role="alert"',
    "flash-error",
    "error-page",
    '"problems"',
    '"error"',
)


def has_message(body: str) -> bool:
    return any(marker in body for marker in MESSAGE_MARKERS)


def row_counts(session: Session) -> dict[str, int]:
    """Rows in every table of ours: a refused request must leave every count as it was."""
    session.expire_all()
    return {
        table.name: session.scalar(select(func.count()).select_from(table))
        for table in metadata.sorted_tables
    }
