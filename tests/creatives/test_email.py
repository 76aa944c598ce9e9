"""Email creatives: validation on save, MJML compiled once, Jinja rendered per recipient."""

import pytest

from creatives.editing import add_variant, save_variant
from creatives.email import GMAIL_CLIP_BYTES, compile_email, render_email
from creatives.errors import RenderError, ValidationFailed
from creatives.versions import create_creative, freeze_current_version
from tests.creatives.conftest import GOOD_MJML, email_content

CONTEXT = {
    "unsubscribe_url": "https://cm.example.org/u/TOKEN?a=1&b=2",
    "preferences_url": "https://cm.example.org/prefs/TOKEN",
    "postal_address": "1200 Main Street, Columbus, OH 43215",
}


def messages(content, field="mjml"):
    return [p.message for p in compile_email(content).problems if p.field == field]


def test_a_good_email_compiles_with_placeholders_intact():
    compiled = compile_email(email_content())
    assert compiled.problems == []
    assert "{{ first_name }}" in compiled.html
    assert 'href="{{ unsubscribe_url }}"' in compiled.html
    assert "<mjml" not in compiled.html and "<mj-" not in compiled.html
    # No Google Fonts link: the email loads nothing from third parties by itself.
    assert "fonts.googleapis.com" not in compiled.html
    assert "Unsubscribe ({{ unsubscribe_url }})" in compiled.text


def test_invalid_mjml_is_reported_with_mjmls_message():
    broken = GOOD_MJML.replace("</mj-column>", "", 1)
    (message,) = messages(email_content(mjml=broken))
    assert message.startswith("Invalid MJML: ")
    assert "unexpected end of stream" in message or "unable to parse" in message
    assert "every tag is closed" in message


def test_mjml_that_is_not_mjml_at_all():
    assert messages(email_content(mjml="<p>Hello</p>")) == [
        "The email must be MJML: start with <mjml> and end with </mjml>."
    ]


def test_unknown_tags_and_includes_are_refused():
    source = GOOD_MJML.replace(
        "<mj-column>", '<mj-column><mj-include path="/etc/passwd" /><mj-foo/>'
    )
    found = messages(email_content(mjml=source))
    assert "<mj-include> is not supported: put the content in this email." in found
    assert "Unknown MJML tag <mj-foo>." in found


def test_unknown_placeholders_are_named_with_a_suggestion():
    source = GOOD_MJML.replace("{{ school }}", "{{ shcool }}")
    (message,) = messages(email_content(mjml=source))
    assert message.startswith("Unknown placeholder {{ shcool }}. Did you mean {{ school }}?")
    assert messages(email_content(subject="Hi {{ nickname }}"), "subject")[0].startswith(
        "Unknown placeholder {{ nickname }}."
    )


def test_template_syntax_errors_give_the_line():
    source = GOOD_MJML.replace("{{ school }}", "{{ school }")
    (message,) = messages(email_content(mjml=source))
    assert message.startswith("Template error on line 6:")


def test_images_need_alt_text():
    source = GOOD_MJML.replace('alt="A technician at work"', 'alt=""')
    assert messages(email_content(mjml=source)) == [
        'The image https://example.org/hero.png has no alt text. Add alt="..." describing it '
        "(many readers see the text, not the picture)."
    ]


def test_the_footer_needs_the_unsubscribe_link_and_postal_address():
    source = GOOD_MJML.replace('<a href="{{ unsubscribe_url }}">Unsubscribe</a> ·', "").replace(
        "{{ postal_address }}", ""
    )
    found = messages(email_content(mjml=source))
    assert any(m.startswith("The footer needs an unsubscribe link") for m in found)
    assert any(m.startswith("The footer needs the sender's postal address") for m in found)
    # Mentioning the URL as text is not a link.
    as_text = GOOD_MJML.replace(
        '<a href="{{ unsubscribe_url }}">Unsubscribe</a>', "{{ unsubscribe_url }}"
    )
    assert any("unsubscribe link" in m for m in messages(email_content(mjml=as_text)))


def test_html_over_102_kb_is_refused_because_gmail_clips_it():
    filler = "<mj-text>" + "Collision repair careers. " * 200 + "</mj-text>"
    source = GOOD_MJML.replace("<mj-column>", "<mj-column>" + filler * 25)
    (message,) = messages(email_content(mjml=source))
    assert "Gmail clips emails over 102 KB" in message
    assert int(message.split("The HTML is ")[1].split(" KB")[0]) * 1024 > GMAIL_CLIP_BYTES - 1024


def test_subject_and_text_override_are_checked():
    assert messages(email_content(subject=""), "subject") == ["Write a subject line."]
    text_problems = messages(email_content(text="Hello {{ first_name }}"), "text")
    assert "The plain text needs the unsubscribe link: {{ unsubscribe_url }}." in text_problems
    assert any("postal address" in m for m in text_problems)


def test_sandbox_refuses_unsafe_templates():
    source = GOOD_MJML.replace("{{ school }}", "{{ ''.__class__.__mro__ }}")
    found = messages(email_content(mjml=source))
    assert any(m.startswith("The email cannot be rendered") for m in found)


def test_save_refuses_invalid_content_and_changes_nothing(db, email_creative):
    before = dict(email_creative.current_version.variant("").content)
    with pytest.raises(ValidationFailed) as failure:
        save_variant(db, email_creative.id, "", email_content(mjml="<mjml><mj-body>"))
    assert failure.value.for_field("mjml")[0].startswith("Invalid MJML")
    db.rollback()
    db.refresh(email_creative)
    assert email_creative.current_version.variant("").content == before


def test_render_fills_placeholders_with_defaults_and_escapes_values(db, email_creative):
    version = email_creative.current_version
    rendered = render_email(db, version.id, "", {**CONTEXT, "first_name": "<b>Ana</b>"})
    assert rendered.subject == "Hi <b>Ana</b>"  # the subject is a header, not HTML
    assert "Hi &lt;b&gt;Ana&lt;/b&gt;" in rendered.html
    assert "at your school." in rendered.html  # default for a missing school
    assert 'href="https://cm.example.org/u/TOKEN?a=1&amp;b=2"' in rendered.html
    assert CONTEXT["postal_address"] in rendered.html
    assert "Hi <b>Ana</b>, turn a passion" in rendered.text
    assert "Unsubscribe (https://cm.example.org/u/TOKEN?a=1&b=2)" in rendered.text
    assert "Careers in collision repair" in rendered.html  # the hidden preheader
    anonymous = render_email(db, version.id, "", {**CONTEXT, "first_name": ""})
    assert anonymous.subject == "Hi there"


def test_render_requires_the_unsubscribe_and_address_context(db, email_creative):
    with pytest.raises(RenderError, match="needs unsubscribe_url, postal_address"):
        render_email(db, email_creative.current_version.id, "", {"preferences_url": "x"})


def test_the_text_part_can_be_written_by_the_editor(db, email_creative):
    text = "Hi {{ first_name }}!\nStop: {{ unsubscribe_url }}\n{{ postal_address }}\n"
    version, _ = save_variant(db, email_creative.id, "", email_content(text=text))
    rendered = render_email(db, version.id, "", {**CONTEXT, "first_name": "Lee"})
    assert rendered.text == (
        "Hi Lee!\nStop: https://cm.example.org/u/TOKEN?a=1&b=2\n" + CONTEXT["postal_address"] + "\n"
    )


def test_segment_variants_fall_back_to_the_default(db, email_creative):
    add_variant(db, email_creative.id, "parents")
    save_variant(
        db,
        email_creative.id,
        "parents",
        email_content(subject="Scholarships for {{ first_name }}'s future"),
    )
    version = email_creative.current_version
    assert render_email(db, version.id, "parents", CONTEXT).subject.startswith("Scholarships")
    assert render_email(db, version.id, "students", CONTEXT).subject == "Hi there"
    assert render_email(db, version.id, "", CONTEXT).subject == "Hi there"


def test_freezing_then_editing_makes_a_new_version_and_keeps_the_old(db, email_creative):
    frozen = freeze_current_version(db, email_creative.id)
    assert frozen.is_frozen and frozen.number == 1
    assert freeze_current_version(db, email_creative.id).id == frozen.id  # idempotent
    draft, _ = save_variant(db, email_creative.id, "", email_content(subject="New subject"))
    assert draft.id != frozen.id and draft.number == 2 and not draft.is_frozen
    again, _ = save_variant(db, email_creative.id, "", email_content(subject="Newer subject"))
    assert again.id == draft.id  # a draft is edited in place
    db.commit()
    assert render_email(db, frozen.id, "", CONTEXT).subject == "Hi there"
    assert render_email(db, draft.id, "", CONTEXT).subject == "Newer subject"
    assert frozen.variant("").compiled_html is not None


def test_freezing_compiles_a_never_compiled_draft(db):
    creative = create_creative(db, "Raw", "email", content=email_content())
    assert creative.current_version.variant("").compiled_html is None
    version = freeze_current_version(db, creative.id)
    assert "{{ first_name }}" in version.variant("").compiled_html
    assert render_email(db, version.id, "", CONTEXT).subject == "Hi there"
