"""The demo's creatives load through the real services, valid, without rendering any PDF."""

import io

from pypdf import PdfReader

from campaign_manager.core.config import AssetSettings
from creatives.demo import LANDING_SLUG, demo_schools, load_demo_creatives
from creatives.email import render_email
from creatives.landing import render_landing_page
from creatives.models import CreativeKind
from creatives.printing import preflight, render_print_pdf
from creatives.social import render_social

CONTEXT = {
    "unsubscribe_url": "https://x.org/u/t",
    "preferences_url": "https://x.org/p/t",
    "postal_address": "1 Main St",
}


def test_demo_creatives_cover_the_reference_campaign(db):
    schools = demo_schools()
    assert len(schools) == 20
    loaded = load_demo_creatives(
        db, base_url="http://127.0.0.1:5000", limits=AssetSettings(), schools=schools[:3]
    )
    db.commit()
    kinds = sorted(c.kind.value for c in loaded.creatives.values())
    assert kinds.count("email") == 2 and kinds.count("social") == 3
    assert kinds.count("web") == 1 and kinds.count("print") == 2

    outreach = loaded.creatives["outreach"].current_version
    assert sorted(v.key for v in outreach.variants) == ["", "educators", "parents", "students"]
    students = render_email(db, outreach.id, "students", {**CONTEXT, "first_name": "Sam"})
    assert students.subject == "Sam, turn a passion for cars into a career"
    parents = render_email(db, outreach.id, "parents", CONTEXT)
    assert "scholarships" in parents.text.lower() and "safe" in parents.text
    educators = render_email(db, outreach.id, "educators", CONTEXT)
    assert "curriculum" in educators.html and "instructor training" in educators.html

    page = render_landing_page(db, LANDING_SLUG, {"utm_source": "poster"})
    assert "careers.example.org/scholarships?utm_source=poster" in page
    assert "careers.example.org/jobs?utm_source=poster" in page

    post = next(c for c in loaded.creatives.values() if c.kind is CreativeKind.SOCIAL)
    assert render_social(db, post.current_version.id, "bluesky").media[0].alt_text

    poster = loaded.creatives["Hallway poster (18 x 24)"]
    (pdf,) = render_print_pdf(db, poster.current_version.id)
    assert pdf.pages == 3  # one per school
    reader = PdfReader(io.BytesIO(pdf.data))
    assert float(reader.pages[0].mediabox.width) == 18 * 72 + 18
    assert (
        preflight(
            db, poster.current_version.id, variant_keys=[schools[0].name.lower().replace(" ", "-")]
        )
        == []
    )
