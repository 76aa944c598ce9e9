"""`print`: co-branded flyers (one per partner school) through the print pipeline.

Engine: `render_print_pdf` for one partner at a time, as a print step or the vendor portal
asks for it: the print template with the brand kit's colours and fonts, the partner's logo
and a QR code with UTM, WeasyPrint, then exact TrimBox/BleedBox written with pikepdf.
Baseline: plain WeasyPrint on the same final HTML (`print_html`), with the same images
and fonts. Goal: an overhead ratio of at most 1.15.

The pipeline caches identical PDFs; every flyer here differs (partner name, logo, QR
code), so no flyer is served from that cache.
"""

from __future__ import annotations

import io

from PIL import Image
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from campaign_manager.bench.environment import BenchContext, database_of
from campaign_manager.bench.harness import Goal, Row, Timing, progress, timed
from campaign_manager.core.storage import storage_of
from creatives.assets import upload_asset
from creatives.brand import FONTS_DIR, BrandKitFields, PartnerFields, add_partner, save_brand_kit
from creatives.content import PrintContent
from creatives.demo import coalition_logo, school_crest, workshop_picture
from creatives.editing import save_variant
from creatives.printing import ASSET_SCHEME, print_html, render_print_pdf
from creatives.versions import create_creative, freeze_current_version

NAME = "print"
FULL_SIZE = 100
GOAL_RATIO = 1.15


def run(ctx: BenchContext) -> list[Row]:
    count = ctx.size(FULL_SIZE, minimum=3)
    with ctx.app("sqlite") as app:
        database = database_of(app)
        limits = app.extensions["settings"].assets
        progress(f"print: making a flyer with {count + 1} co-brand partners")
        with database.transaction() as session:
            version_id, keys = _flyer(session, limits, count + 1)
        warm_up, keys = keys[0], keys[1:]

        with database.reading() as session:
            storage = storage_of(session)
            htmls = {key: print_html(session, version_id, variant_keys=[key]) for key in keys}
            # Fonts, the template and WeasyPrint itself load once, untimed, on both sides.
            render_print_pdf(session, version_id, variant_keys=[warm_up])
            _weasyprint(print_html(session, version_id, variant_keys=[warm_up]), storage)

            progress(f"print: {count} flyers, each through the pipeline then plain WeasyPrint")
            engine = baseline = 0.0
            for key in keys:
                seconds, files = timed(
                    lambda key=key: render_print_pdf(session, version_id, variant_keys=[key])
                )
                if files[0].pages != 1:
                    raise RuntimeError(f"flyer {key} has {files[0].pages} pages")
                engine += seconds
                baseline += timed(lambda key=key: _weasyprint(htmls[key], storage))[0]
    row = Row(
        benchmark=NAME,
        work=f"{count:,} co-branded flyers (US letter)",
        size=count,
        unit="flyers",
        engine=Timing((engine,)),
        baseline_name="plain WeasyPrint, same HTML",
        baseline=Timing((baseline,)),
    )
    row.goal = Goal(f"overhead ratio ≤ {GOAL_RATIO}", (row.ratio or 0) <= GOAL_RATIO)
    return [row]


class _AssetFetcher(URLFetcher):
    """WeasyPrint's own fetcher, plus the library's images by their `cm-asset:` name."""

    def __init__(self, storage) -> None:
        super().__init__()
        self.storage = storage

    def fetch(self, url: str, headers: object = None) -> URLFetcherResponse:
        if url.startswith(ASSET_SCHEME):
            data = self.storage.get(url.removeprefix(ASSET_SCHEME))
            with Image.open(io.BytesIO(data)) as image:
                mime = Image.MIME[image.format]
            return URLFetcherResponse(url, data, {"Content-Type": mime})
        return super().fetch(url, headers)


def _weasyprint(html: str, storage) -> bytes:
    return HTML(
        string=html, url_fetcher=_AssetFetcher(storage), base_url=FONTS_DIR.as_uri() + "/"
    ).write_pdf()


def _flyer(session, limits, partners: int) -> tuple[int, list[str]]:
    """A letter flyer co-branded for `partners` schools; returns (version id, partner keys)."""

    def upload(image: Image.Image, name: str, fmt: str) -> int:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, fmt, dpi=(300, 300))
        return upload_asset(session, buffer.getvalue(), limits=limits, filename=name).asset.id

    logo = upload(coalition_logo(), "logo.png", "PNG")
    # 7.5 x 4.5 in at 300 ppi: the flyer's hero band, sharp enough to pass preflight.
    hero = upload(workshop_picture(2250, 1350, seed=1), "hero.jpg", "JPEG")
    kit = save_brand_kit(
        session, BrandKitFields(name="Collision Careers Coalition", logo_asset_id=logo)
    )
    keys = []
    for number in range(partners):
        name = f"School {number:03d} High School"
        key = f"school-{number:03d}"
        crest = upload(school_crest(name, seed=100 + number), f"{key}.png", "PNG")
        add_partner(
            session,
            kit.id,
            PartnerFields(
                key=key,
                name=name,
                contact_name="Maria Lopez",
                contact_title="School counsellor",
                contact_email=f"counsellor@{key}.example.org",
                logo_asset_id=crest,
            ),
        )
        keys.append(key)
    piece = create_creative(session, "School flyer (US letter)", "print", brand_kit_id=kit.id)
    save_variant(
        session,
        piece.id,
        "",
        PrintContent(
            profile="letter-flyer",
            headline="Turn a passion for cars into a career",
            subheadline="Collision repair technicians are in demand",
            body="Scholarships, paid entry-level training and mentors from the industry "
            "help you start a skilled career right after high school.",
            call_to_action="Scan to find your scholarship",
            hero_asset_id=hero,
            qr_url="https://cm.example.org/p/collision-careers",
            footer_note="Collision Careers Coalition · careers.example.org",
        ),
    )
    return freeze_current_version(session, piece.id).id, keys
