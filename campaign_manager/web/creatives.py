"""Creatives UI: asset library, brand kits, editors with live preview; public pages and media.

Two blueprints: `creatives` (signed-in staff, under /creatives) and `public_pages`
(/p/<slug> landing pages and /media/<file> for library files, open to anyone).

Previews are our own pages shown in a sandboxed iframe, so only preview responses may be
framed (by this site): they set X-Frame-Options SAMEORIGIN and frame-ancestors 'self',
while everything else keeps the app-wide DENY.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from markupsafe import Markup
from sqlalchemy import or_, select
from wtforms import (
    DateTimeLocalField,
    EmailField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from campaign_manager.campaigns.test_send import (
    TestSendError,
    email_accounts,
    prepare_test_email,
    send_prepared,
)
from campaign_manager.channels.base import Sent
from campaign_manager.core.storage import BlobNotFound, storage_of
from campaign_manager.extensions import db
from campaign_manager.web.authz import EDITORS, STAFF, public, requires_role
from creatives.assets import all_tags, find_assets, update_asset, upload_asset
from creatives.brand import (
    BUNDLED_FAMILIES,
    BrandKitFields,
    PartnerFields,
    add_partner,
    save_brand_kit,
)
from creatives.content import (
    EmailContent,
    MediaRef,
    PageLink,
    PrintContent,
    SocialContent,
    WebContent,
)
from creatives.editing import add_variant, check_content, remove_variant, save_variant
from creatives.email import PLACEHOLDERS, preview_email
from creatives.errors import CreativeError, Problem, RenderError, Severity, ValidationFailed
from creatives.landing import publish_landing_page, render_page_html, unpublish_landing_page
from creatives.models import Asset, AssetKind, BrandKit, Creative, CreativeKind
from creatives.print_profiles import PROFILES
from creatives.printing import preflight, proof_png, render_print_pdf
from creatives.social import NETWORK_LABELS, preview_social
from creatives.versions import (
    BUILT_IN_SEGMENT_SLUGS,
    create_creative,
    find_creatives,
    variant_content,
    version_summary,
)

bp = Blueprint("creatives", __name__, url_prefix="/creatives")
public_bp = Blueprint("public_pages", __name__)

KIND_LABELS = {
    CreativeKind.EMAIL: "Email",
    CreativeKind.SOCIAL: "Social post",
    CreativeKind.WEB: "Landing page",
    CreativeKind.PRINT: "Print",
}
# Preview frames show our own rendering of editor content: no scripts at all, styles inline.
PREVIEW_CSP = (
    "default-src 'none'; img-src 'self' data: https:; style-src 'unsafe-inline'; "
    "font-src 'self' data:; frame-ancestors 'self'; form-action 'none'; base-uri 'none'"
)
# Public landing pages: our template's inline styles, no scripts (editor HTML is sanitised).
PAGE_CSP = (
    "default-src 'none'; img-src 'self' data: https:; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'none'; base-uri 'none'"
)


def _settings():
    return current_app.extensions["settings"]


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EmptyForm(FlaskForm):
    """Only the CSRF token, for action buttons."""


# --- forms ---


class TestSendForm(FlaskForm):
    to = EmailField("Send a test to", validators=[DataRequired(), Length(max=320)])
    from_address = EmailField("From", validators=[DataRequired(), Length(max=320)])
    account_id = SelectField("Through", coerce=int, choices=[])


class NewCreativeForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    kind = SelectField("Kind", choices=[SelectChoice(k.value, v) for k, v in KIND_LABELS.items()])
    brand_kit_id = SelectField("Brand kit", coerce=int, choices=[])
    slug = StringField("Page address (landing pages)", validators=[Optional(), Length(max=100)])


class UploadForm(FlaskForm):
    file = FileField("File", validators=[FileRequired("Choose a file to upload.")])
    title = StringField("Title", validators=[Optional(), Length(max=200)])
    alt_text = TextAreaField("Alt text", validators=[Optional(), Length(max=2000)])
    tags = StringField("Tags (comma-separated)", validators=[Optional(), Length(max=500)])
    licence = StringField("Licence", validators=[Optional(), Length(max=200)])
    credit = StringField("Credit", validators=[Optional(), Length(max=300)])


class AssetForm(FlaskForm):
    title = StringField("Title", validators=[Optional(), Length(max=200)])
    alt_text = TextAreaField("Alt text", validators=[Optional(), Length(max=2000)])
    tags = StringField("Tags (comma-separated)", validators=[Optional(), Length(max=500)])
    licence = StringField("Licence", validators=[Optional(), Length(max=200)])
    credit = StringField("Credit", validators=[Optional(), Length(max=300)])


class BrandKitForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    logo_asset_id = SelectField("Logo", coerce=int, choices=[])
    primary_color = StringField("Primary colour", default="#0b3d91")
    secondary_color = StringField("Secondary colour", default="#f5a623")
    text_color = StringField("Text colour", default="#1a1a1a")
    background_color = StringField("Background colour", default="#ffffff")
    heading_font = StringField("Heading font", default="Open Sans")
    body_font = StringField("Body font", default="Open Sans")
    website = StringField("Website", validators=[Optional(), Length(max=500)])


class PartnerForm(FlaskForm):
    key = StringField(
        "Key (for file names and tracking)", validators=[DataRequired(), Length(max=64)]
    )
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    logo_asset_id = SelectField("Logo", coerce=int, choices=[])
    contact_name = StringField("Counsellor or contact", validators=[Optional(), Length(max=200)])
    contact_title = StringField("Their title", validators=[Optional(), Length(max=200)])
    contact_email = StringField("Email", validators=[Optional(), Length(max=320)])
    contact_phone = StringField("Phone", validators=[Optional(), Length(max=50)])


class EmailForm(FlaskForm):
    subject = StringField("Subject", validators=[Length(max=300)])
    preheader = StringField("Preview line (preheader)", validators=[Optional(), Length(max=300)])
    mjml = TextAreaField("MJML", validators=[Length(max=400_000)])
    text = TextAreaField("Plain-text part (empty: made from the HTML)", validators=[Optional()])

    def content(self) -> EmailContent:
        return EmailContent(
            subject=self.subject.data or "",
            preheader=self.preheader.data or "",
            mjml=self.mjml.data or "",
            text=self.text.data or "",
        )

    def fill(self, content: EmailContent) -> None:
        self.subject.data, self.preheader.data = content.subject, content.preheader
        self.mjml.data, self.text.data = content.mjml, content.text


class SocialForm(FlaskForm):
    text = TextAreaField("Post text", validators=[Length(max=70_000)])
    link = StringField("Link", validators=[Optional(), Length(max=2000)])
    networks = MultiCheckboxField(
        "Networks", choices=[SelectChoice(n.value, label) for n, label in NETWORK_LABELS.items()]
    )
    media = SelectMultipleField("Images", coerce=int, choices=[])
    mastodon_max_characters = IntegerField(
        "Mastodon instance limit", default=500, validators=[Optional(), NumberRange(min=1)]
    )

    def content(self) -> SocialContent:
        return SocialContent(
            text=self.text.data or "",
            link=self.link.data or "",
            networks=list(self.networks.data or []),
            media=[MediaRef(asset_id) for asset_id in self.media.data or []],
            mastodon_max_characters=self.mastodon_max_characters.data or 500,
        )

    def fill(self, content: SocialContent) -> None:
        self.text.data, self.link.data = content.text, content.link
        self.networks.data = content.networks
        self.media.data = [ref.asset_id for ref in content.media]
        self.mastodon_max_characters.data = content.mastodon_max_characters


class WebForm(FlaskForm):
    title = StringField("Page title", validators=[Length(max=200)])
    description = StringField(
        "Description (for search engines)", validators=[Optional(), Length(max=300)]
    )
    headline = StringField("Headline", validators=[Length(max=300)])
    body_html = TextAreaField(
        "Body (HTML; scripts and styles are removed)", validators=[Optional()]
    )
    hero_asset_id = SelectField("Picture", coerce=int, choices=[])
    cta_label = StringField("Button label", validators=[Optional(), Length(max=100)])
    cta_url = StringField("Button link", validators=[Optional(), Length(max=2000)])
    links = TextAreaField("More links, one per line: Label | https://…", validators=[Optional()])

    def content(self) -> WebContent:
        links = []
        for line in (self.links.data or "").splitlines():
            if line.strip():
                label, _, url = line.partition("|")
                links.append(PageLink(label.strip(), url.strip()))
        return WebContent(
            title=self.title.data or "",
            description=self.description.data or "",
            headline=self.headline.data or "",
            body_html=self.body_html.data or "",
            hero_asset_id=self.hero_asset_id.data or None,
            cta_label=self.cta_label.data or "",
            cta_url=self.cta_url.data or "",
            links=links,
        )

    def fill(self, content: WebContent) -> None:
        self.title.data, self.description.data = content.title, content.description
        self.headline.data, self.body_html.data = content.headline, content.body_html
        self.hero_asset_id.data = content.hero_asset_id or 0
        self.cta_label.data, self.cta_url.data = content.cta_label, content.cta_url
        self.links.data = "\n".join(f"{link.label} | {link.url}" for link in content.links)


class PrintForm(FlaskForm):
    profile = SelectField(
        "Format", choices=[SelectChoice(p.key, p.describe()) for p in PROFILES.values()]
    )
    headline = StringField("Headline", validators=[Length(max=200)])
    subheadline = StringField("Subheadline", validators=[Optional(), Length(max=300)])
    body = TextAreaField("Body (blank line between paragraphs)", validators=[Optional()])
    call_to_action = StringField("Call to action", validators=[Optional(), Length(max=200)])
    hero_asset_id = SelectField("Picture", coerce=int, choices=[])
    qr_url = StringField(
        "QR code link (UTM added per school)", validators=[Optional(), Length(max=2000)]
    )
    footer_note = StringField("Footer note", validators=[Optional(), Length(max=300)])

    def content(self) -> PrintContent:
        return PrintContent(
            profile=self.profile.data or "letter-flyer",
            headline=self.headline.data or "",
            subheadline=self.subheadline.data or "",
            body=self.body.data or "",
            call_to_action=self.call_to_action.data or "",
            hero_asset_id=self.hero_asset_id.data or None,
            qr_url=self.qr_url.data or "",
            footer_note=self.footer_note.data or "",
        )

    def fill(self, content: PrintContent) -> None:
        self.profile.data, self.headline.data = content.profile, content.headline
        self.subheadline.data, self.body.data = content.subheadline, content.body
        self.call_to_action.data = content.call_to_action
        self.hero_asset_id.data = content.hero_asset_id or 0
        self.qr_url.data, self.footer_note.data = content.qr_url, content.footer_note


EDITOR_FORMS = {
    CreativeKind.EMAIL: EmailForm,
    CreativeKind.SOCIAL: SocialForm,
    CreativeKind.WEB: WebForm,
    CreativeKind.PRINT: PrintForm,
}


class VariantForm(FlaskForm):
    key = StringField("Segment slug", validators=[DataRequired(), Length(max=64)])


class PublishForm(FlaskForm):
    at = DateTimeLocalField("Go live at (UTC; empty: now)", validators=[Optional()])


def _image_choices(empty_label: str | None = "— none —") -> list[SelectChoice]:
    images = db.session.scalars(
        select(Asset).where(Asset.kind == AssetKind.IMAGE).order_by(Asset.title, Asset.filename)
    )
    choices = [SelectChoice(0, empty_label)] if empty_label else []
    return choices + [SelectChoice(a.id, f"{a.label} ({a.width} x {a.height})") for a in images]


def _editor_form(creative: Creative, formdata=None) -> FlaskForm:
    form = EDITOR_FORMS[creative.kind](formdata=formdata)
    if hasattr(form, "hero_asset_id"):
        form.hero_asset_id.choices = _image_choices()
    if isinstance(form, SocialForm):
        form.media.choices = _image_choices(empty_label=None)
    return form


def _attach_problems(form: FlaskForm, problems: list[Problem]) -> list[Problem]:
    """Put each message beside its field; return those that belong to no field."""
    unplaced = []
    for problem in problems:
        field = getattr(form, problem.field, None)
        if field is None or not hasattr(field, "errors"):
            unplaced.append(problem)
            continue
        if problem.severity is Severity.ERROR:
            field.errors = [*list(field.errors or []), problem.message]
        else:
            field.description = ((field.description or "") + " " + problem.message).strip()
    return unplaced


# --- the creatives list ---


@bp.route("/")
@requires_role(*STAFF)
def index():
    kind = request.args.get("kind", "")
    text = request.args.get("q", "")
    try:
        kind_filter = CreativeKind(kind) if kind else None
    except ValueError:
        kind_filter = None
    creatives = find_creatives(db.session, kind=kind_filter, text=text)
    return render_template(
        "creatives/index.html",
        creatives=creatives,
        kind=kind,
        text=text,
        kinds=KIND_LABELS,
        form=_new_creative_form(),
    )


def _new_creative_form() -> NewCreativeForm:
    form = NewCreativeForm()
    kits = db.session.scalars(select(BrandKit).order_by(BrandKit.name))
    form.brand_kit_id.choices = [SelectChoice(0, "— none —")] + [
        SelectChoice(kit.id, kit.name) for kit in kits
    ]
    return form


@bp.route("/new", methods=["POST"])
@requires_role(*EDITORS)
def new():
    form = _new_creative_form()
    if form.validate_on_submit():
        try:
            creative = create_creative(
                db.session,
                form.name.data,
                form.kind.data,
                brand_kit_id=form.brand_kit_id.data or None,
                slug=form.slug.data or None,
            )
        except CreativeError as exc:
            target = form.slug if "address" in str(exc) else form.name
            target.errors = [*list(target.errors), str(exc)]
        else:
            db.session.commit()
            flash(f"{KIND_LABELS[creative.kind]} “{creative.name}” created.", "success")
            return redirect(url_for("creatives.editor", creative_id=creative.id))
    creatives = find_creatives(db.session)
    return (
        render_template(
            "creatives/index.html",
            creatives=creatives,
            kind="",
            text="",
            kinds=KIND_LABELS,
            form=form,
        ),
        400,
    )


# --- asset library ---


def _library_page(form: UploadForm, status: int = 200):
    kind = request.args.get("kind", "")
    tag = request.args.get("tag", "")
    text = request.args.get("q", "")
    try:
        kind_filter = AssetKind(kind) if kind else None
    except ValueError:
        kind_filter = None
    assets = find_assets(db.session, kind=kind_filter, tag=tag, text=text)
    return (
        render_template(
            "creatives/assets.html",
            assets=assets,
            tags=all_tags(db.session),
            kind=kind,
            tag=tag,
            text=text,
            form=form,
            limits=_settings().assets,
        ),
        status,
    )


@bp.route("/assets")
@requires_role(*STAFF)
def assets():
    return _library_page(UploadForm())


@bp.route("/assets", methods=["POST"])
@requires_role(*EDITORS)
def upload():
    form = UploadForm()
    if not form.validate_on_submit():
        return _library_page(form, 400)
    upload_file = form.file.data
    data = upload_file.read()
    try:
        result = upload_asset(
            db.session,
            data,
            limits=_settings().assets,
            filename=upload_file.filename or "",
            title=form.title.data or "",
            alt_text=form.alt_text.data or "",
            tags=form.tags.data or "",
            licence=form.licence.data or "",
            credit=form.credit.data or "",
        )
    except CreativeError as exc:
        db.session.rollback()
        form.file.errors = [*list(form.file.errors), str(exc)]
        return _library_page(form, 400)
    db.session.commit()
    asset = result.asset
    if result.created:
        flash(f"{asset.label} added to the library.", "success")
    else:
        flash(f"This file is already in the library as {asset.label}.", "info")
    return redirect(url_for("creatives.asset", asset_id=asset.id))


@bp.route("/assets/<int:asset_id>")
@requires_role(*STAFF)
def asset(asset_id: int):
    item = db.session.get(Asset, asset_id) or abort(404)
    form = AssetForm(obj=item)
    if request.method == "GET":
        form.tags.data = ", ".join(item.tags)
    return render_template("creatives/asset.html", asset=item, form=form)


@bp.route("/assets/<int:asset_id>/edit", methods=["POST"])
@requires_role(*EDITORS)
def edit_asset(asset_id: int):
    item = db.session.get(Asset, asset_id) or abort(404)
    form = AssetForm()
    if form.validate_on_submit():
        try:
            update_asset(
                db.session,
                asset_id,
                title=form.title.data or "",
                alt_text=form.alt_text.data or "",
                tags=form.tags.data or "",
                licence=form.licence.data or "",
                credit=form.credit.data or "",
            )
        except CreativeError as exc:
            form.tags.errors = [*list(form.tags.errors), str(exc)]
        else:
            db.session.commit()
            flash("Saved.", "success")
            return redirect(url_for("creatives.asset", asset_id=asset_id))
    return render_template("creatives/asset.html", asset=item, form=form), 400


# --- brand kits ---


def _kit_form(kit: BrandKit | None = None, formdata=None) -> BrandKitForm:
    form = BrandKitForm(formdata=formdata, obj=kit)
    form.logo_asset_id.choices = _image_choices()
    if kit is not None and formdata is None:
        form.logo_asset_id.data = kit.logo_asset_id or 0
    return form


def _kit_fields(form: BrandKitForm) -> BrandKitFields:
    return BrandKitFields(
        name=form.name.data or "",
        primary_color=form.primary_color.data or "",
        secondary_color=form.secondary_color.data or "",
        text_color=form.text_color.data or "",
        background_color=form.background_color.data or "",
        heading_font=form.heading_font.data or "",
        body_font=form.body_font.data or "",
        website=form.website.data or "",
        logo_asset_id=form.logo_asset_id.data or None,
    )


def _kit_error(form: BrandKitForm, exc: CreativeError) -> None:
    message = str(exc)
    field = form.name
    for candidate in ("primary", "secondary", "text", "background"):
        if message.lower().startswith(candidate):
            field = getattr(form, f"{candidate}_color")
    if message.startswith("Logo"):
        field = form.logo_asset_id
    field.errors = [*list(field.errors), message]


def _brand_kits_page(form: BrandKitForm, status: int = 200):
    kits = db.session.scalars(select(BrandKit).order_by(BrandKit.name)).all()
    return render_template(
        "creatives/brand_kits.html", kits=kits, form=form, families=BUNDLED_FAMILIES
    ), status


@bp.route("/brand-kits")
@requires_role(*STAFF)
def brand_kits():
    return _brand_kits_page(_kit_form())


@bp.route("/brand-kits", methods=["POST"])
@requires_role(*EDITORS)
def create_brand_kit():
    form = _kit_form(formdata=request.form)
    if form.validate_on_submit():
        try:
            kit = save_brand_kit(db.session, _kit_fields(form))
        except CreativeError as exc:
            db.session.rollback()
            _kit_error(form, exc)
        else:
            db.session.commit()
            flash(f"Brand kit {kit.name} created.", "success")
            return redirect(url_for("creatives.brand_kit", brand_kit_id=kit.id))
    return _brand_kits_page(form, 400)


def _partner_form(formdata=None) -> PartnerForm:
    form = PartnerForm(formdata=formdata)
    form.logo_asset_id.choices = _image_choices()
    return form


def _brand_kit_page(kit: BrandKit, form: BrandKitForm, partner_form: PartnerForm, status=200):
    return render_template(
        "creatives/brand_kit.html",
        kit=kit,
        form=form,
        partner_form=partner_form,
        families=BUNDLED_FAMILIES,
    ), status


@bp.route("/brand-kits/<int:brand_kit_id>")
@requires_role(*STAFF)
def brand_kit(brand_kit_id: int):
    kit = db.session.get(BrandKit, brand_kit_id) or abort(404)
    return _brand_kit_page(kit, _kit_form(kit), _partner_form())


@bp.route("/brand-kits/<int:brand_kit_id>", methods=["POST"])
@requires_role(*EDITORS)
def update_brand_kit(brand_kit_id: int):
    kit = db.session.get(BrandKit, brand_kit_id) or abort(404)
    form = _kit_form(formdata=request.form)
    if form.validate_on_submit():
        try:
            save_brand_kit(db.session, _kit_fields(form), kit.id)
        except CreativeError as exc:
            db.session.rollback()
            _kit_error(form, exc)
        else:
            db.session.commit()
            flash("Brand kit saved.", "success")
            return redirect(url_for("creatives.brand_kit", brand_kit_id=kit.id))
    return _brand_kit_page(kit, form, _partner_form(), 400)


@bp.route("/brand-kits/<int:brand_kit_id>/partners", methods=["POST"])
@requires_role(*EDITORS)
def add_brand_partner(brand_kit_id: int):
    kit = db.session.get(BrandKit, brand_kit_id) or abort(404)
    form = _partner_form(formdata=request.form)
    if form.validate_on_submit():
        try:
            partner = add_partner(
                db.session,
                kit.id,
                PartnerFields(
                    key=form.key.data,
                    name=form.name.data,
                    contact_name=form.contact_name.data or "",
                    contact_title=form.contact_title.data or "",
                    contact_email=form.contact_email.data or "",
                    contact_phone=form.contact_phone.data or "",
                    logo_asset_id=form.logo_asset_id.data or None,
                ),
            )
        except CreativeError as exc:
            db.session.rollback()
            field = form.key if "key" in str(exc) else form.name
            field.errors = [*list(field.errors), str(exc)]
        else:
            db.session.commit()
            flash(f"{partner.name} added as a co-brand partner.", "success")
            return redirect(url_for("creatives.brand_kit", brand_kit_id=kit.id))
    return _brand_kit_page(kit, _kit_form(kit), form, 400)


# --- editors ---


def _variant_key() -> str:
    return (request.values.get("variant") or "").strip().lower()


def _editor_page(creative: Creative, form: FlaskForm, variant_key: str, problems=(), status=200):
    version = creative.current_version
    unplaced = _attach_problems(form, list(problems))
    preflight_problems: list = []
    preflight_error = ""
    if creative.kind is CreativeKind.PRINT and request.method == "GET":
        try:
            preflight_problems = preflight(db.session, version.id, variant_keys=None)
        except CreativeError as exc:
            preflight_error = str(exc)
        unplaced += _attach_problems(
            form,
            [Problem(p.area, p.message, p.severity) for p in preflight_problems],
        )
    partners = creative.brand_kit.partners if creative.brand_kit else []
    return (
        render_template(
            "creatives/editor.html",
            creative=creative,
            version=version,
            versions=version_summary(db.session, creative.id),
            form=form,
            variant_key=variant_key,
            variants=[v.key for v in version.variants],
            segment_slugs=BUILT_IN_SEGMENT_SLUGS,
            unplaced=unplaced,
            preflight_error=preflight_error,
            partners=partners,
            placeholder_hint=", ".join(f"{{{{ {name} }}}}" for name in PLACEHOLDERS),
            kind_label=KIND_LABELS[creative.kind],
            variant_form=VariantForm(),
            test_send_form=_test_send_form(creative),
            publish_form=PublishForm(),
            action=EmptyForm(),
            profiles=PROFILES,
            page_url=_page_url(creative),
            now=datetime.now(UTC),
        ),
        status,
    )


def _test_send_form(creative: Creative) -> TestSendForm | None:
    if creative.kind is not CreativeKind.EMAIL:
        return None
    form = TestSendForm(formdata=None)
    form.account_id.choices = [
        SelectChoice(a.id, a.display_name) for a in email_accounts(db.session)
    ]
    return form


def _page_url(creative: Creative) -> str:
    if creative.kind is not CreativeKind.WEB or not creative.slug:
        return ""
    return _settings().app.base_url.rstrip("/") + url_for(
        "public_pages.landing_page", slug=creative.slug
    )


@bp.route("/<int:creative_id>")
@requires_role(*STAFF)
def editor(creative_id: int):
    creative = db.session.get(Creative, creative_id) or abort(404)
    key = _variant_key()
    if key not in [v.key for v in creative.current_version.variants]:
        key = ""
    form = _editor_form(creative)
    form.fill(variant_content(creative.current_version, key))
    problems = []
    if creative.kind is not CreativeKind.PRINT:
        problems = [
            p
            for p in check_content(db.session, creative.kind, form.content())
            if p.severity is Severity.WARNING
        ]
    return _editor_page(creative, form, key, problems)


@bp.route("/<int:creative_id>", methods=["POST"])
@requires_role(*EDITORS)
def save(creative_id: int):
    creative = db.session.get(Creative, creative_id) or abort(404)
    key = _variant_key()
    form = _editor_form(creative, formdata=request.form)
    if not form.validate_on_submit():
        return _editor_page(creative, form, key, status=400)
    number_before = creative.current_version.number
    try:
        version, warnings = save_variant(db.session, creative.id, key, form.content())
    except ValidationFailed as failure:
        db.session.rollback()
        return _editor_page(creative, form, key, failure.problems, status=400)
    except CreativeError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _editor_page(creative, form, key, status=400)
    db.session.commit()
    note = ""
    if version.number > number_before:
        note = ": a new version, because the previous one is approved for use and stays as it was"
    flash(f"Saved version {version.number}{note}.", "success")
    for warning in warnings:
        flash(warning.message, "warning")
    return redirect(url_for("creatives.editor", creative_id=creative.id, variant=key or None))


@bp.route("/<int:creative_id>/test-send", methods=["POST"])
@requires_role(*EDITORS)
def test_send(creative_id: int):
    creative = db.session.get(Creative, creative_id) or abort(404)
    key = _variant_key()
    form = TestSendForm()
    form.account_id.choices = [
        SelectChoice(a.id, a.display_name) for a in email_accounts(db.session)
    ]
    back = redirect(url_for("creatives.editor", creative_id=creative.id, variant=key or None))
    if not form.validate_on_submit():
        for field_errors in form.errors.values():
            for error in field_errors:
                flash(f"Test not sent: {error}", "error")
        return back
    settings = _settings()
    try:
        prepared = prepare_test_email(
            db.session,
            creative_id=creative.id,
            variant_key=key,
            to=form.to.data,
            from_address=form.from_address.data,
            account_id=form.account_id.data,
            base_url=settings.app.base_url,
            postal_address=settings.app.postal_address,
            instance_path=settings.instance_dir,
        )
    except TestSendError as exc:
        flash(f"Test not sent: {exc}", "error")
        return back
    # End the request's transaction before talking to the provider.
    db.session.commit()
    result = send_prepared(prepared)
    if isinstance(result, Sent):
        flash(f"Test sent to {prepared.message.to}.", "success")
    else:
        flash(f"Test not sent: {result.reason}", "error")
    return back


@bp.route("/<int:creative_id>/variants", methods=["POST"])
@requires_role(*EDITORS)
def new_variant(creative_id: int):
    db.session.get(Creative, creative_id) or abort(404)
    form = VariantForm()
    if not form.validate_on_submit():
        flash("Name the variant after a segment slug, e.g. parents.", "error")
        return redirect(url_for("creatives.editor", creative_id=creative_id))
    try:
        add_variant(db.session, creative_id, form.key.data)
    except CreativeError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("creatives.editor", creative_id=creative_id))
    db.session.commit()
    key = form.key.data.strip().lower()
    flash(f"Variant for {key} added, starting as a copy of the default.", "success")
    return redirect(url_for("creatives.editor", creative_id=creative_id, variant=key))


@bp.route("/<int:creative_id>/variants/remove", methods=["POST"])
@requires_role(*EDITORS)
def delete_variant(creative_id: int):
    db.session.get(Creative, creative_id) or abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        remove_variant(db.session, creative_id, _variant_key())
    except CreativeError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash("Variant removed.", "success")
    return redirect(url_for("creatives.editor", creative_id=creative_id))


@bp.route("/<int:creative_id>/publish", methods=["POST"])
@requires_role(*EDITORS)
def publish(creative_id: int):
    db.session.get(Creative, creative_id) or abort(404)
    form = PublishForm()
    if not form.validate_on_submit():
        flash("Give the time as a date and time, or leave it empty for now.", "error")
        return redirect(url_for("creatives.editor", creative_id=creative_id))
    at = form.at.data.replace(tzinfo=UTC) if form.at.data else None
    try:
        version = publish_landing_page(db.session, creative_id, at)
    except CreativeError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        when = "now" if at is None else f"from {at:%Y-%m-%d %H:%M} UTC"
        flash(f"Version {version.number} is live {when}.", "success")
    return redirect(url_for("creatives.editor", creative_id=creative_id))


@bp.route("/<int:creative_id>/unpublish", methods=["POST"])
@requires_role(*EDITORS)
def unpublish(creative_id: int):
    db.session.get(Creative, creative_id) or abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        unpublish_landing_page(db.session, creative_id)
    except CreativeError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash("The page is offline.", "success")
    return redirect(url_for("creatives.editor", creative_id=creative_id))


# --- previews (framed) ---


def _framed(body: str | bytes, status: int = 200, mimetype: str = "text/html") -> Response:
    response = Response(body, status=status, mimetype=mimetype)
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


def _render_preview(creative: Creative, content, mode: str) -> Response:
    if isinstance(content, EmailContent):
        rendered, problems = preview_email(content)
        errors = [p for p in problems if p.severity is Severity.ERROR]
        email_html = ""
        if rendered is not None and mode != "text":
            # The subject and any problems go in a strip above the email itself.
            strip = render_template(
                "creatives/_preview_strip.html", rendered=rendered, problems=errors
            )
            # The email is shown in a sandboxed frame whose CSP runs no script.
            email_html = Markup(  # noqa: S704 - shown sandboxed, no scripts
                re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + strip, rendered.html, count=1)
            )
        html = render_template(
            "creatives/preview_email.html",
            rendered=rendered,
            problems=errors,
            mode=mode,
            email_html=email_html,
        )
        return _framed(html)
    if isinstance(content, SocialContent):
        previews = preview_social(db.session, content)
        media = [db.session.get(Asset, ref.asset_id) for ref in content.media]
        html = render_template(
            "creatives/preview_social.html", previews=previews, media=[m for m in media if m]
        )
        return _framed(html)
    if isinstance(content, WebContent):
        return _framed(render_page_html(db.session, content, creative.brand_kit, {}))
    try:
        png = proof_png(
            db.session,
            creative.current_version.id,
            content=content,
            variant_key=request.values.get("partner") or None,
        )
    except CreativeError as exc:
        return _framed(render_template("creatives/preview_print.html", error=str(exc)), 400)
    return _framed(
        render_template(
            "creatives/preview_print.html",
            image=base64.b64encode(png).decode(),
            profile=PROFILES.get(content.profile),
        )
    )


@bp.route("/<int:creative_id>/preview")
@requires_role(*STAFF)
def preview(creative_id: int):
    """The saved version, as the audience will see it."""
    creative = db.session.get(Creative, creative_id) or abort(404)
    content = variant_content(creative.current_version, _variant_key())
    return _render_preview(creative, content, request.args.get("mode", "html"))


@bp.route("/<int:creative_id>/preview", methods=["POST"])
@requires_role(*EDITORS)
def live_preview(creative_id: int):
    """Unsaved edits from the editor form, rendered without saving anything."""
    creative = db.session.get(Creative, creative_id) or abort(404)
    form = _editor_form(creative, formdata=request.form)
    if not form.validate_on_submit():
        return _framed(
            render_template(
                "creatives/preview_print.html", error="Reload the editor: the form expired."
            ),
            400,
        )
    return _render_preview(creative, form.content(), request.form.get("mode", "html"))


# --- print files ---


@bp.route("/<int:creative_id>/print.pdf")
@requires_role(*STAFF)
def print_pdf(creative_id: int):
    creative = db.session.get(Creative, creative_id) or abort(404)
    if creative.kind is not CreativeKind.PRINT:
        abort(404)
    variant = request.args.get("partner")
    try:
        (pdf,) = render_print_pdf(
            db.session,
            creative.current_version.id,
            profile=request.args.get("profile") or None,
            variant_keys=[variant] if variant is not None else None,
            crop_marks=request.args.get("crop_marks") == "1",
            cmyk={"1": True, "0": False}.get(request.args.get("cmyk", "")),
        )
    except CreativeError as exc:
        flash(str(exc), "error")
        return redirect(url_for("creatives.editor", creative_id=creative_id))
    response = Response(pdf.data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{pdf.filename}"'
    return response


@bp.route("/<int:creative_id>/proof.png")
@requires_role(*STAFF)
def proof(creative_id: int):
    creative = db.session.get(Creative, creative_id) or abort(404)
    if creative.kind is not CreativeKind.PRINT:
        abort(404)
    try:
        png = proof_png(
            db.session,
            creative.current_version.id,
            profile=request.args.get("profile") or None,
            variant_key=request.args.get("partner"),
        )
    except CreativeError:
        abort(404)
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=60"})


# --- public: landing pages and library files ---


@public_bp.route("/p/<slug>")
@public
def landing_page(slug: str):
    try:
        html = render_landing_page_for_visit(slug)
    except RenderError:
        abort(404)
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PAGE_CSP
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def render_landing_page_for_visit(slug: str) -> str:
    from creatives.landing import render_landing_page

    return render_landing_page(db.session, slug, request.args)


@public_bp.route("/media/<name>")
@public
def media(name: str):
    """A library file or thumbnail by content hash: unguessable, immutable, cacheable forever.

    Public because recipients' mail clients and landing-page visitors load these images;
    only blobs that are library assets or their thumbnails are served.
    """
    sha256, _, _extension = name.partition(".")
    asset = db.session.scalar(
        select(Asset).where(or_(Asset.sha256 == sha256, Asset.thumbnail_sha256 == sha256))
    )
    if asset is None:
        abort(404)
    try:
        data = storage_of(db.session).get(sha256)
    except (BlobNotFound, ValueError):
        abort(404)
    if sha256 == asset.sha256:
        mimetype = asset.mime
    else:
        mimetype = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    response = Response(data, mimetype=mimetype)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    if mimetype == "application/pdf":
        response.headers["Content-Disposition"] = f'inline; filename="{sha256[:12]}.pdf"'
    return response
