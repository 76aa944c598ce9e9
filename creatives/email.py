"""Email creatives: MJML compiled once per version, Jinja rendered once per recipient.

Saving a variant compiles its MJML with mjml-python; the Jinja placeholders
(`{{ first_name }}`, `{% if school %}...`) pass through MJML untouched and the compiled
HTML is kept on the variant row, together with a plain-text template made from it (or the
editor's own text). Sending then only renders Jinja: `render_email` fills the placeholders
for one recipient in a sandboxed environment with autoescaping, using templates compiled
once per process and cached by their source, so 20,000 renders cost 20,000 dict lookups
and template runs, not 20,000 MJML compilations.

Every email must carry an unsubscribe link (`{{ unsubscribe_url }}`) and the sender's
postal address (`{{ postal_address }}`); both are checked when the creative is saved and
must be given by the caller of `render_email`.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from jinja2 import TemplateSyntaxError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import escape
from mjml import mjml2html
from sqlalchemy.orm import Session

from creatives.content import EmailContent, content_from_dict
from creatives.errors import Problem, RenderError, Severity
from creatives.models import CreativeKind, CreativeVariant
from creatives.versions import get_version

# Gmail clips messages whose HTML is larger than this and hides the rest (and our footer).
GMAIL_CLIP_BYTES = 102 * 1024


@dataclass(frozen=True)
class Placeholder:
    name: str
    default: str
    description: str


PLACEHOLDERS = {
    p.name: p
    for p in (
        Placeholder("first_name", "there", "The recipient's first name"),
        Placeholder("last_name", "", "The recipient's last name"),
        Placeholder("email", "", "The recipient's email address"),
        Placeholder("school", "your school", "School or organisation"),
        Placeholder("region", "your area", "Region"),
        Placeholder("graduation_year", "", "Expected graduation year"),
        Placeholder("organization_name", "", "The sender's organisation"),
        Placeholder("unsubscribe_url", "", "One-click unsubscribe link (required)"),
        Placeholder("preferences_url", "", "Email preferences page (required)"),
        Placeholder("postal_address", "", "The sender's postal address (required)"),
    )
}
REQUIRED_CONTEXT = ("unsubscribe_url", "preferences_url", "postal_address")
# Stand-ins for the required values when previewing and measuring an email.
SAMPLE_CONTEXT = {
    "unsubscribe_url": "https://example.org/u/sample-unsubscribe-token",
    "preferences_url": "https://example.org/u/sample-preferences-token",
    "postal_address": "1200 Main Street, Columbus, OH 43215",
}

KNOWN_MJML_TAGS = frozenset(
    (
        "mjml",
        "mj-head",
        "mj-body",
        "mj-attributes",
        "mj-all",
        "mj-class",
        "mj-breakpoint",
        "mj-font",
        "mj-html-attributes",
        "mj-html-attribute",
        "mj-selector",
        "mj-preview",
        "mj-style",
        "mj-title",
        "mj-accordion",
        "mj-accordion-element",
        "mj-accordion-title",
        "mj-accordion-text",
        "mj-button",
        "mj-carousel",
        "mj-carousel-image",
        "mj-column",
        "mj-divider",
        "mj-group",
        "mj-hero",
        "mj-image",
        "mj-navbar",
        "mj-navbar-link",
        "mj-raw",
        "mj-section",
        "mj-social",
        "mj-social-element",
        "mj-spacer",
        "mj-table",
        "mj-text",
        "mj-wrapper",
    )
)
_MJML_TAG = re.compile(r"<\s*(mj[a-z-]*)", re.IGNORECASE)
_JINJA_PART = re.compile(r"({{.*?}}|{%.*?%}|{#.*?#})", re.DOTALL)
_UNSUBSCRIBE_LINK = re.compile(r"""href\s*=\s*["']\s*{{\s*unsubscribe_url\s*}}\s*["']""")
_POSTAL_ADDRESS = re.compile(r"{{\s*postal_address\s*}}")

# One environment per kind of output; sandboxed because editors write the templates.
_html_env = ImmutableSandboxedEnvironment(autoescape=True)
_plain_env = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=True)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


# --- compiling (on save) --------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledEmail:
    html: str | None
    text: str | None
    problems: list[Problem]


def _placeholder_problems(source: str, field: str) -> list[Problem]:
    try:
        names = meta.find_undeclared_variables(_html_env.parse(source))
    except TemplateSyntaxError as exc:
        return [
            Problem(
                field,
                f"Template error on line {exc.lineno}: {exc.message}. "
                "Placeholders look like {{ first_name }}.",
            )
        ]
    problems = []
    for name in sorted(names - PLACEHOLDERS.keys()):
        close = difflib.get_close_matches(name, PLACEHOLDERS, n=1)
        hint = f" Did you mean {{{{ {close[0]} }}}}?" if close else ""
        problems.append(
            Problem(
                field,
                f"Unknown placeholder {{{{ {name} }}}}.{hint} Known placeholders: "
                + ", ".join(PLACEHOLDERS)
                + ".",
            )
        )
    return problems


def _mjml_problems(source: str) -> list[Problem]:
    if "<mjml" not in source:
        return [Problem("mjml", "The email must be MJML: start with <mjml> and end with </mjml>.")]
    problems = []
    for tag in sorted({t.lower() for t in _MJML_TAG.findall(source)} - KNOWN_MJML_TAGS):
        if tag == "mj-include":
            message = "<mj-include> is not supported: put the content in this email."
        else:
            message = f"Unknown MJML tag <{tag}>."
        problems.append(Problem("mjml", message))
    return problems


def compile_mjml(source: str) -> str:
    """MJML to HTML; ValueError with mjml-python's message when the MJML is invalid."""
    # fonts={}: no Google Fonts link in our emails (privacy; the brand fonts are web-safe).
    return mjml2html(source, disable_comments=True, fonts={})


def _inject_preheader(compiled: str, preheader: str) -> str:
    """The hidden preview line inboxes show after the subject, right after <body>."""
    if not preheader.strip():
        return compiled
    # Escape the literal text but not the Jinja placeholders inside it.
    parts = _JINJA_PART.split(preheader)
    safe = "".join(part if _JINJA_PART.fullmatch(part) else str(escape(part)) for part in parts)
    hidden = (
        '<div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;'
        f'opacity:0;overflow:hidden;mso-hide:all">{safe}</div>'
    )
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + hidden, compiled, count=1)


def compile_email(content: EmailContent) -> CompiledEmail:
    """Validate and compile one variant; `problems` say what stops it from being saved."""
    problems: list[Problem] = []
    if not content.subject.strip():
        problems.append(Problem("subject", "Write a subject line."))
    elif "\n" in content.subject or "\r" in content.subject:
        problems.append(Problem("subject", "The subject must be one line."))
    else:
        problems += _placeholder_problems(content.subject, "subject")
        if len(content.subject) > 150:
            problems.append(
                Problem("subject", "Subjects over 150 characters are cut off.", Severity.WARNING)
            )
    problems += _placeholder_problems(content.preheader, "preheader")
    mjml_problems = _mjml_problems(content.mjml) + _placeholder_problems(content.mjml, "mjml")
    problems += mjml_problems
    if content.text.strip():
        problems += _placeholder_problems(content.text, "text")
        problems += _footer_problems(content.text, "text", is_html=False)
    if mjml_problems:
        return CompiledEmail(None, None, problems)
    try:
        compiled = compile_mjml(content.mjml)
    except ValueError as exc:
        problems.append(
            Problem(
                "mjml",
                f"Invalid MJML: {exc}. Check that every tag is closed and that a bare < or & "
                "in text is written &lt; or &amp;.",
            )
        )
        return CompiledEmail(None, None, problems)
    compiled = _inject_preheader(compiled, content.preheader)
    problems += _footer_problems(compiled, "mjml", is_html=True)
    problems += _image_problems(compiled)
    text = content.text if content.text.strip() else html_to_text(compiled)
    try:
        sample = _html_env.from_string(compiled).render(_values(SAMPLE_CONTEXT))
    except Exception as exc:  # a template that cannot render must not be saved
        problems.append(Problem("mjml", f"The email cannot be rendered: {exc}"))
    else:
        size = len(sample.encode("utf-8"))
        if size > GMAIL_CLIP_BYTES:
            problems.append(
                Problem(
                    "mjml",
                    f"The HTML is {size / 1024:.0f} KB; Gmail clips emails over 102 KB and "
                    "hides the rest, including the unsubscribe link. Shorten the email.",
                )
            )
    return CompiledEmail(compiled, text, problems)


def _footer_problems(source: str, field: str, *, is_html: bool) -> list[Problem]:
    problems = []
    if is_html and not _UNSUBSCRIBE_LINK.search(source):
        problems.append(
            Problem(
                field,
                'The footer needs an unsubscribe link: <a href="{{ unsubscribe_url }}">'
                "Unsubscribe</a>.",
            )
        )
    if not is_html and not re.search(r"{{\s*unsubscribe_url\s*}}", source):
        problems.append(
            Problem(field, "The plain text needs the unsubscribe link: {{ unsubscribe_url }}.")
        )
    if not _POSTAL_ADDRESS.search(source):
        problems.append(
            Problem(field, "The footer needs the sender's postal address: {{ postal_address }}.")
        )
    return problems


class _ImageCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.missing_alt: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            values = dict(attrs)
            if not (values.get("alt") or "").strip():
                self.missing_alt.append(values.get("src") or "(no src)")


def _image_problems(compiled: str) -> list[Problem]:
    collector = _ImageCollector()
    collector.feed(compiled)
    return [
        Problem(
            "mjml",
            f'The image {src} has no alt text. Add alt="..." describing it '
            "(many readers see the text, not the picture).",
        )
        for src in collector.missing_alt
    ]


def ensure_compiled(variant: CreativeVariant) -> None:
    """Compile a variant that has never been compiled (rows written before a save)."""
    if variant.compiled_html is not None:
        return
    content = content_from_dict(CreativeKind.EMAIL, variant.content)
    compiled = compile_email(content)
    variant.compiled_html = compiled.html or ""
    variant.compiled_text = compiled.text or ""


# --- HTML to plain text -------------------------------------------------------------------------

_BLOCK_TAGS = {"p", "div", "br", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "li", "hr"}


class _TextMaker(HTMLParser):
    """Readable text from the compiled email: blocks on their own lines, links as (url)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "head", "title", "script"):
            self.skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "a":
            self.links.append(dict(attrs).get("href"))
            self.parts.append("\0a")
        if tag in ("h1", "h2", "h3"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "head", "title", "script"):
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "a" and self.links:
            href = self.links.pop()
            start = len(self.parts) - 1 - self.parts[::-1].index("\0a")
            label = " ".join("".join(self.parts[start + 1 :]).split())
            self.parts[start:] = [_link_text(label, href)]

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.parts.append(data)

    def text(self) -> str:
        raw = "".join(part for part in self.parts if part != "\0a")
        lines = [" ".join(line.split()) for line in raw.split("\n")]
        text = "\n".join(lines)
        return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _link_text(label: str, href: str | None) -> str:
    if not href or href.startswith(("mailto:", "#")) or href == label:
        return label or (href or "")
    return f"{label} ({href})" if label else href


def html_to_text(compiled_html: str) -> str:
    maker = _TextMaker()
    maker.feed(compiled_html)
    return maker.text()


# --- rendering (per recipient) ----------------------------------------------------------------


@dataclass(frozen=True)
class _Templates:
    subject: Any
    html: Any
    text: Any


@functools.lru_cache(maxsize=512)
def _templates(subject: str, compiled_html: str, text: str) -> _Templates:
    return _Templates(
        subject=_plain_env.from_string(subject),
        html=_html_env.from_string(compiled_html),
        text=_plain_env.from_string(text),
    )


def _values(context: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {name: p.default for name, p in PLACEHOLDERS.items()}
    for name, value in context.items():
        if value is not None and value != "":
            values[name] = value
    return values


def render_email(
    session: Session, version_id: int, variant_key: str, context: Mapping[str, Any]
) -> RenderedEmail:
    """The subject, HTML and text of one email version's variant for one recipient.

    `variant_key` is the recipient's segment slug ("" or an unknown slug: the default
    variant). `context` gives the placeholders (missing ones take their defaults) and must
    hold `unsubscribe_url`, `preferences_url` and `postal_address`.
    """
    missing = [key for key in REQUIRED_CONTEXT if not context.get(key)]
    if missing:
        raise RenderError(f"render_email needs {', '.join(missing)} in the context.")
    version = get_version(session, version_id)
    if version.creative.kind is not CreativeKind.EMAIL:
        raise RenderError(f"Creative version {version_id} is not an email.")
    variant = version.variant(variant_key)
    ensure_compiled(variant)
    templates = _templates(
        variant.content.get("subject", ""), variant.compiled_html or "", variant.compiled_text or ""
    )
    values = _values(context)
    subject = " ".join(templates.subject.render(values).split())
    return RenderedEmail(
        subject=subject, html=templates.html.render(values), text=templates.text.render(values)
    )


def preview_email(
    content: EmailContent, context: Mapping[str, Any] | None = None
) -> tuple[RenderedEmail | None, list[Problem]]:
    """Compile and render unsaved content with sample values, for the editor's live preview."""
    compiled = compile_email(content)
    if compiled.html is None:
        return None, compiled.problems
    values = _values({**SAMPLE_CONTEXT, **(context or {})})
    try:
        rendered = RenderedEmail(
            subject=" ".join(_plain_env.from_string(content.subject).render(values).split()),
            html=_html_env.from_string(compiled.html).render(values),
            text=_plain_env.from_string(compiled.text or "").render(values),
        )
    except Exception as exc:  # the preview shows what is wrong instead of failing
        return None, [*compiled.problems, Problem("mjml", f"Cannot render: {exc}")]
    return rendered, compiled.problems
