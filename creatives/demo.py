"""Demo creatives for the reference campaign: the coalition recruiting collision technicians.

Everything is generated here, deterministically: pictures are drawn with Pillow (large
enough for an 18 x 24 in poster at 300 ppi), the brand kit gets one co-brand partner per
school, and the emails, posts, landing page, flyer and poster are saved through the same
services the UI uses (so they are validated). No PDF is rendered at load time.
"""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy.orm import Session

from campaign_manager.core.config import AssetSettings
from creatives.assets import upload_asset
from creatives.brand import (
    BUNDLED_FONTS,
    BrandKitFields,
    PartnerFields,
    add_partner,
    save_brand_kit,
    slugify,
)
from creatives.content import (
    EmailContent,
    MediaRef,
    PageLink,
    PrintContent,
    SocialContent,
    WebContent,
)
from creatives.editing import add_variant, save_variant
from creatives.landing import publish_landing_page
from creatives.models import Asset, Creative
from creatives.rendering import media_path
from creatives.versions import create_creative

PRIMARY = (11, 61, 145)
SECONDARY = (245, 166, 35)
LANDING_SLUG = "collision-careers"
SCHOLARSHIPS_URL = "https://careers.example.org/scholarships"
JOBS_URL = "https://careers.example.org/jobs"


@dataclass(frozen=True)
class DemoSchool:
    name: str
    region: str
    counsellor: str
    organization_id: int | None = None


@dataclass
class DemoCreatives:
    assets: dict[str, Asset] = field(default_factory=dict)
    creatives: dict[str, Creative] = field(default_factory=dict)


# --- pictures -------------------------------------------------------------------------------------


def _font(size: int, weight: int = 800) -> ImageFont.FreeTypeFont:
    face = next(f for f in BUNDLED_FONTS if f.weight == weight and f.style == "normal")
    return ImageFont.truetype(str(face.path), size)


def _jpeg(image: Image.Image, dpi: int = 300) -> bytes:
    output = io.BytesIO()
    image.save(output, "JPEG", quality=85, dpi=(dpi, dpi))
    return output.getvalue()


def _png(image: Image.Image) -> bytes:
    output = io.BytesIO()
    image.save(output, "PNG", optimize=True)
    return output.getvalue()


def workshop_picture(width: int, height: int, seed: int) -> Image.Image:
    """A stylised repair bay: a dusk gradient, a car body in a spray of paint."""
    rng = random.Random(seed)  # noqa: S311 - deterministic demo pictures, not secrets
    ramp = Image.linear_gradient("L").rotate(90).resize((width, height))
    image = Image.merge(
        "RGB",
        (
            ramp.point(lambda v: 12 + v // 6),
            ramp.point(lambda v: 40 + v // 3),
            ramp.point(lambda v: 95 + v // 2),
        ),
    )
    draw = ImageDraw.Draw(image)
    unit = width / 100
    for _ in range(60):  # paint mist
        x, y, r = rng.uniform(0, width), rng.uniform(0, height * 0.6), rng.uniform(unit, 6 * unit)
        shade = rng.randint(150, 230)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(shade, shade // 2 + 40, 60))
    body_top = height * 0.48
    draw.rounded_rectangle(
        (14 * unit, body_top, 86 * unit, height * 0.80), radius=int(6 * unit), fill=(196, 36, 44)
    )
    draw.rounded_rectangle(
        (30 * unit, body_top - 12 * unit, 68 * unit, body_top + 2 * unit),
        radius=int(5 * unit),
        fill=(170, 28, 36),
    )
    for centre in (27, 73):
        x, y, r = centre * unit, height * 0.80, 8 * unit
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(25, 25, 28))
        draw.ellipse((x - r / 2, y - r / 2, x + r / 2, y + r / 2), fill=(150, 150, 160))
    return image


def coalition_logo() -> Image.Image:
    image = Image.new("RGB", (1500, 420), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((20, 40, 360, 380), radius=60, fill=PRIMARY)
    draw.polygon([(90, 300), (190, 110), (290, 300)], fill=SECONDARY)
    draw.text((400, 70), "Collision Careers", font=_font(120), fill=PRIMARY)
    draw.text((405, 230), "COALITION", font=_font(96, 700), fill=(60, 60, 60))
    return image


def school_crest(name: str, seed: int) -> Image.Image:
    rng = random.Random(seed)  # noqa: S311 - deterministic demo pictures, not secrets
    colour = (rng.randint(20, 160), rng.randint(20, 120), rng.randint(60, 180))
    image = Image.new("RGB", (600, 600), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 20, 580, 580), fill=colour)
    initials = "".join(word[0] for word in name.split() if word[0].isupper())[:3]
    font = _font(220)
    box = draw.textbbox((0, 0), initials, font=font)
    draw.text(
        ((600 - (box[2] - box[0])) / 2 - box[0], (600 - (box[3] - box[1])) / 2 - box[1]),
        initials,
        font=font,
        fill=(255, 255, 255),
    )
    return image


# --- schools --------------------------------------------------------------------------------------

SCHOOL_NAMES = (
    "Lincoln High School",
    "Roosevelt High School",
    "Jefferson Technical High School",
    "Washington Career Academy",
    "Franklin High School",
    "Kennedy High School",
    "Madison Vocational Center",
    "Monroe High School",
    "Jackson Technical Institute",
    "Adams High School",
    "Hamilton Career and Technical Center",
    "Grant High School",
    "Lakeview High School",
    "Riverside High School",
    "Northside Technical High School",
    "Eastwood High School",
    "Westfield High School",
    "Central Career Academy",
    "Pine Ridge High School",
    "Hillcrest Technical High School",
)
REGIONS = ("Midwest", "South", "West", "Northeast")
COUNSELLORS = (
    "Maria Alvarez",
    "James Carter",
    "Aisha Johnson",
    "Daniel Kim",
    "Priya Patel",
    "Robert Nguyen",
    "Linda Okafor",
    "Samuel Brooks",
    "Elena Rossi",
    "Marcus Green",
)


def demo_schools() -> list[DemoSchool]:
    return [
        DemoSchool(name, REGIONS[i % len(REGIONS)], COUNSELLORS[i % len(COUNSELLORS)])
        for i, name in enumerate(SCHOOL_NAMES)
    ]


# --- copy -----------------------------------------------------------------------------------------


def _email_mjml(
    hero_url: str, heading: str, paragraphs: Sequence[str], button: str, url: str
) -> str:
    body = "\n".join(
        f'        <mj-text font-size="16px" line-height="1.5">{p}</mj-text>' for p in paragraphs
    )
    return f"""<mjml>
  <mj-head>
    <mj-attributes><mj-all font-family="Open Sans, Helvetica, Arial, sans-serif" /></mj-attributes>
  </mj-head>
  <mj-body background-color="#f3f4f6">
    <mj-section background-color="#0b3d91" padding="16px">
      <mj-column>
        <mj-text color="#ffffff" font-size="20px" font-weight="700">
          Collision Careers Coalition
        </mj-text>
      </mj-column>
    </mj-section>
    <mj-section background-color="#ffffff" padding="0">
      <mj-column>
        <mj-image src="{hero_url}" padding="0"
          alt="A student technician refinishing a red car in a paint booth" />
      </mj-column>
    </mj-section>
    <mj-section background-color="#ffffff">
      <mj-column>
        <mj-text font-size="26px" font-weight="800" color="#0b3d91" line-height="1.2">
          {heading}
        </mj-text>
{body}
        <mj-button background-color="#f5a623" color="#111111" font-weight="700"
          href="{url}">{button}</mj-button>
      </mj-column>
    </mj-section>
    <mj-section>
      <mj-column>
        <mj-text font-size="12px" color="#555555" align="center">
          You receive this because you asked about careers in collision repair.<br>
          <a href="{{{{ unsubscribe_url }}}}">Unsubscribe</a> ·
          <a href="{{{{ preferences_url }}}}">Email preferences</a><br>
          {{{{ postal_address }}}}
        </mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>"""


def _outreach_variants(hero_url: str, page_url: str) -> dict[str, EmailContent]:
    def utm(content: str) -> str:
        return (
            f"{page_url}?utm_source=email&utm_medium=email&utm_campaign=spring-outreach"
            f"&utm_content={content}"
        )

    return {
        "": EmailContent(
            subject="Careers in collision repair start here",
            preheader="Scholarships, paid training and good jobs near {{ region }}",
            mjml=_email_mjml(
                hero_url,
                "Good careers are waiting in collision repair",
                [
                    "Hi {{ first_name }}, shops across {{ region }} are hiring technicians, "
                    "estimators and painters. Training is short, scholarships are plenty."
                ],
                "See the careers",
                utm("general"),
            ),
        ),
        "students": EmailContent(
            subject="{{ first_name }}, turn a passion for cars into a career",
            preheader="Scholarships and paid training for students at {{ school }}",
            mjml=_email_mjml(
                hero_url,
                "Turn a passion for cars into a career",
                [
                    "Hi {{ first_name }}, if you like fixing things and making cars look new, "
                    "collision repair pays you to do it.",
                    "Students at {{ school }} can apply for scholarships, start paid training "
                    "right after graduation and earn certifications employers ask for.",
                ],
                "Find your scholarship",
                utm("students"),
            ),
        ),
        "parents": EmailContent(
            subject="Scholarships and steady earnings for your teenager",
            preheader="Modern, safe workplaces and careers that pay well",
            mjml=_email_mjml(
                hero_url,
                "A skilled career your teenager can be proud of",
                [
                    "Dear {{ first_name }}, collision repair technicians are in demand across "
                    "{{ region }}, and experienced technicians earn well above the median wage.",
                    "Today's shops are clean, safe and high-tech: computerised measuring, "
                    "ventilated paint booths and strict safety standards.",
                    "Industry scholarships cover training costs for many students.",
                ],
                "Explore scholarships",
                utm("parents"),
            ),
        ),
        "educators": EmailContent(
            subject="Free collision repair curriculum and instructor training",
            preheader="Bring industry-recognised training to {{ school }}",
            mjml=_email_mjml(
                hero_url,
                "Support for your automotive programme",
                [
                    "Dear {{ first_name }}, the coalition offers a free curriculum aligned with "
                    "industry certifications, plus instructor training workshops each summer.",
                    "Partner schools receive co-branded flyers and posters for their hallways, "
                    "and a counsellor contact for every student who asks.",
                ],
                "Get the curriculum",
                utm("educators"),
            ),
        ),
    }


def _reminder_variants(hero_url: str, page_url: str) -> dict[str, EmailContent]:
    link = f"{SCHOLARSHIPS_URL}?utm_source=email&utm_medium=email&utm_campaign=scholarship-deadline"
    return {
        "": EmailContent(
            subject="Scholarship applications close soon",
            preheader="Apply in ten minutes",
            mjml=_email_mjml(
                hero_url,
                "Apply before the deadline",
                [
                    "Hi {{ first_name }}, collision repair scholarships close at the end "
                    "of the month. The application takes ten minutes."
                ],
                "Apply now",
                link,
            ),
        ),
        "parents": EmailContent(
            subject="Help your teenager apply for a scholarship",
            preheader="Applications close at the end of the month",
            mjml=_email_mjml(
                hero_url,
                "Ten minutes that can pay for training",
                [
                    "Dear {{ first_name }}, scholarship applications close at the end "
                    "of the month. Sit down together and apply in ten minutes."
                ],
                "See the scholarships",
                link,
            ),
        ),
    }


def demo_email_templates(hero_url: str, page_url: str) -> dict[str, dict[str, EmailContent]]:
    """The demo's email creatives by name, each as its variants by segment slug."""
    return {
        "Spring outreach email": _outreach_variants(hero_url, page_url),
        "Scholarship deadline reminder": _reminder_variants(hero_url, page_url),
    }


# --- the loader -----------------------------------------------------------------------------------


def load_demo_creatives(
    session: Session,
    *,
    base_url: str,
    limits: AssetSettings,
    schools: Sequence[DemoSchool],
) -> DemoCreatives:
    result = DemoCreatives()

    def add(key: str, data: bytes, filename: str, **metadata) -> Asset:
        asset = upload_asset(session, data, limits=limits, filename=filename, **metadata).asset
        result.assets[key] = asset
        return asset

    credit = {"licence": "CC0 (generated for the demo)", "credit": "Campaign Manager demo"}
    logo = add(
        "logo",
        _png(coalition_logo()),
        "coalition-logo.png",
        title="Coalition logo",
        alt_text="Collision Careers Coalition",
        tags="brand, logo",
        **credit,
    )
    # 18.25 x 9.7 in of poster hero at 300 ppi, so the poster passes preflight.
    hero = add(
        "hero",
        _jpeg(workshop_picture(5500, 2950, seed=1)),
        "paint-bay-hero.jpg",
        title="Paint bay (print hero)",
        alt_text="A red car body in a paint booth, surrounded by a mist of paint",
        tags="hero, print, students",
        **credit,
    )
    web_hero = add(
        "web_hero",
        _jpeg(workshop_picture(1200, 600, seed=2), dpi=72),
        "paint-bay-web.jpg",
        title="Paint bay (web)",
        alt_text="A student technician refinishing a red car in a paint booth",
        tags="hero, web, email",
        **credit,
    )
    social = add(
        "social",
        _jpeg(workshop_picture(1200, 675, seed=3), dpi=72),
        "paint-bay-social.jpg",
        title="Paint bay (social)",
        alt_text="A red car in a paint booth with the words Collision Careers",
        tags="social",
        **credit,
    )

    kit = save_brand_kit(
        session,
        BrandKitFields(
            name="Collision Careers Coalition",
            logo_asset_id=logo.id,
            primary_color="#0b3d91",
            secondary_color="#f5a623",
            text_color="#1a1a1a",
            website="https://careers.example.org",
        ),
    )
    for index, school in enumerate(schools):
        crest = add(
            f"crest-{index}",
            _png(school_crest(school.name, seed=100 + index)),
            f"{slugify(school.name)}-crest.png",
            title=f"{school.name} crest",
            alt_text=f"{school.name} crest",
            tags="school, logo",
            **credit,
        )
        first, last = school.counsellor.split(" ", 1)
        add_partner(
            session,
            kit.id,
            PartnerFields(
                key=slugify(school.name),
                name=school.name,
                contact_name=school.counsellor,
                contact_title="School counsellor",
                contact_email=f"{first[0].lower()}{last.lower()}@{slugify(school.name)}.example.org",
                contact_phone=f"(555) 010-{1000 + index:04d}",
                logo_asset_id=crest.id,
                organization_id=school.organization_id,
            ),
        )

    base = base_url.rstrip("/")
    page_url = f"{base}/p/{LANDING_SLUG}"
    email_hero = base + media_path(web_hero)

    outreach = create_creative(session, "Spring outreach email", "email", brand_kit_id=kit.id)
    _save_email_variants(session, outreach, _outreach_variants(email_hero, page_url))
    reminder = create_creative(
        session, "Scholarship deadline reminder", "email", brand_kit_id=kit.id
    )
    _save_email_variants(session, reminder, _reminder_variants(email_hero, page_url))

    posts = {
        "Students post (X, Bluesky, Mastodon)": SocialContent(
            text="Love cars? Turn that passion into a career 🚗🔧 Scholarships and paid "
            "training are waiting. #CollisionCareers #SkilledTrades",
            link=f"{page_url}?utm_source=social&utm_medium=social&utm_content=students",
            media=[MediaRef(social.id)],
            networks=["x", "bluesky", "mastodon"],
        ),
        "Parents and educators post (LinkedIn, Facebook)": SocialContent(
            text="Collision repair technicians are in demand, and today's shops are safe, "
            "modern and high-tech. Industry scholarships cover training for many students, "
            "and schools can get a free curriculum with instructor training.\n\n"
            "Share this with a student who loves cars.",
            link=f"{page_url}?utm_source=social&utm_medium=social&utm_content=parents",
            media=[MediaRef(social.id)],
            networks=["linkedin", "facebook"],
        ),
        "Scholarship deadline post": SocialContent(
            text="Scholarship applications for collision repair training close at the end of "
            "the month. Ten minutes to apply ⏱️",
            link=f"{SCHOLARSHIPS_URL}?utm_source=social&utm_medium=social",
            networks=["x", "bluesky", "mastodon", "linkedin", "facebook"],
        ),
    }
    for name, content in posts.items():
        post = create_creative(session, name, "social", brand_kit_id=kit.id)
        save_variant(session, post.id, "", content)
        result.creatives[name] = post

    page = create_creative(
        session, "Collision careers landing page", "web", brand_kit_id=kit.id, slug=LANDING_SLUG
    )
    save_variant(
        session,
        page.id,
        "",
        WebContent(
            title="Careers in collision repair",
            description="Scholarships, paid training and good jobs repairing cars.",
            headline="Turn a passion for cars into a career",
            body_html=(
                "<p>Collision repair technicians bring damaged cars back to as-new condition "
                "with computerised measuring, welding and refinishing. Shops across the country "
                "are hiring.</p><ul><li>Scholarships for training</li><li>Entry-level "
                "training with pay</li><li>Mentors from the industry</li></ul>"
            ),
            hero_asset_id=web_hero.id,
            cta_label="Find a scholarship",
            cta_url=SCHOLARSHIPS_URL,
            links=[
                PageLink("Browse the careers job board", JOBS_URL),
                PageLink(
                    "Find entry-level training near you", "https://careers.example.org/training"
                ),
            ],
        ),
    )
    publish_landing_page(session, page.id)

    print_copy = {
        "headline": "Turn a passion for cars into a career",
        "subheadline": "Collision repair technicians are in demand",
        "body": "Scholarships, paid entry-level training and mentors from the industry "
        "help you start a skilled career right after high school.",
        "call_to_action": "Scan to find your scholarship",
        "hero_asset_id": hero.id,
        "qr_url": page_url,
        "footer_note": "Collision Careers Coalition · careers.example.org",
    }
    for name, profile in (
        ("School flyer (US letter)", "letter-flyer"),
        ("Hallway poster (18 x 24)", "poster-18x24"),
    ):
        piece = create_creative(session, name, "print", brand_kit_id=kit.id)
        save_variant(session, piece.id, "", PrintContent(profile=profile, **print_copy))
        result.creatives[name] = piece

    result.creatives.update({"outreach": outreach, "reminder": reminder, "landing": page})
    return result


def _save_email_variants(
    session: Session, creative: Creative, variants: dict[str, EmailContent]
) -> None:
    save_variant(session, creative.id, "", variants[""])
    for key, content in variants.items():
        if key:
            add_variant(session, creative.id, key)
            save_variant(session, creative.id, key, content)
