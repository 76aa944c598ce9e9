"""Click and open tracking: signed redirect links, UTM parameters, the open pixel.

A tracked link is `<base_url>/c/<token>`, where the token signs (TokenSigner, purpose
"click") the delivery id and the exact target URL. The redirect goes only to that signed
URL, so the app is never an open redirect: a token whose URL was changed fails the
signature and gets a 404. UTM parameters are added at redirect time, from the campaign,
the step, the channel and the segment of the delivery, so changing a step's UTM values
changes links already sent too.

The renderer calls `rewrite_links` on each recipient's rendered HTML (email or landing
page) and `open_pixel` for the pixel, which it asks for only when the campaign tracks
opens and the recipient is not a minor.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.orm import Session

from campaign_manager.campaigns.editing import UTM_KEYS
from campaign_manager.campaigns.models import Campaign, Delivery, Event, EventKind, Step
from campaign_manager.channels.models import ChannelAccount
from campaign_manager.core.db import utcnow
from campaign_manager.core.security import TokenSigner

CLICK_PURPOSE = "click"
OPEN_PURPOSE = "open"
# An attribute that keeps a link out of tracking (unsubscribe and preference links).
NO_TRACK_ATTRIBUTE = "data-cm-no-track"
# A transparent 1x1 GIF.
PIXEL_GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)

_TAG = re.compile(r"<(a|area)\b[^>]*>", re.IGNORECASE)
_HREF = re.compile(r"""(\shref\s*=\s*)("([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)


def is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


# --- links ---------------------------------------------------------------------------------


def click_token(signer: TokenSigner, delivery_id: int, url: str) -> str:
    return signer.sign(CLICK_PURPOSE, {"d": delivery_id, "u": url})


def click_url(signer: TokenSigner, base_url: str, delivery_id: int, url: str) -> str:
    return f"{base_url.rstrip('/')}/c/{click_token(signer, delivery_id, url)}"


def rewrite_links(
    html_text: str,
    *,
    delivery_id: int,
    signer: TokenSigner,
    base_url: str,
    untracked: Sequence[str] = (),
) -> str:
    """Every http(s) link of `<a>` and `<area>` tags sent through the click redirect.

    Call it on HTML already rendered for one recipient. Links with the attribute
    `data-cm-no-track`, non-web links (mailto:, tel:, #anchors), links already through
    the redirect, and the exact URLs in `untracked` (the recipient's unsubscribe and
    preference links) are left as they are.
    """
    own_prefix = f"{base_url.rstrip('/')}/c/"
    keep = set(untracked)

    def rewrite_tag(tag_match: re.Match[str]) -> str:
        tag = tag_match.group(0)
        if NO_TRACK_ATTRIBUTE in tag.lower():
            return tag

        def rewrite_href(href_match: re.Match[str]) -> str:
            raw = next(g for g in href_match.groups()[2:] if g is not None)
            url = html.unescape(raw).strip()
            if not is_web_url(url) or url.startswith(own_prefix) or url in keep:
                return href_match.group(0)
            tracked = click_url(signer, base_url, delivery_id, url)
            return f'{href_match.group(1)}"{html.escape(tracked)}"'

        return _HREF.sub(rewrite_href, tag, count=1)

    return _TAG.sub(rewrite_tag, html_text)


def open_pixel(
    signer: TokenSigner, base_url: str, delivery_id: int, *, allow_open_tracking: bool
) -> str:
    """The open-tracking image tag, or "" when opens must not be tracked (minors, opt-out)."""
    if not allow_open_tracking:
        return ""
    token = signer.sign(OPEN_PURPOSE, {"d": delivery_id})
    src = html.escape(f"{base_url.rstrip('/')}/o/{token}.gif")
    return f'<img src="{src}" width="1" height="1" alt="" style="display:block;border:0">'


# --- UTM parameters --------------------------------------------------------------------------


def slug(text: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))[:80]


@dataclass(frozen=True)
class UtmContext:
    """What a delivery's UTM values are made of."""

    campaign_name: str
    step_name: str
    channel_kind: str
    source: str
    segment_slug: str = ""

    @property
    def placeholders(self) -> dict[str, str]:
        return {
            "{campaign}": slug(self.campaign_name),
            "{step}": slug(self.step_name),
            "{channel}": self.channel_kind,
            "{source}": self.source,
            "{segment}": self.segment_slug,
        }


def merge_utm(
    context: UtmContext, campaign_utm: Mapping[str, str], step_utm: Mapping[str, str]
) -> dict[str, str]:
    """The UTM parameters of one delivery: defaults < campaign < step.

    Defaults: utm_source the channel adapter (smtp, mastodon...), utm_medium the channel
    kind (email, social...), utm_campaign the campaign's name as a slug, utm_content the
    segment (or, for steps without one, the step's name). Values may use {campaign},
    {step}, {channel}, {source} and {segment}.
    """
    merged = {
        "utm_source": context.source,
        "utm_medium": context.channel_kind,
        "utm_campaign": slug(context.campaign_name),
        "utm_content": context.segment_slug or slug(context.step_name),
    }
    for overrides in (campaign_utm, step_utm):
        merged.update({k: v for k, v in overrides.items() if k in UTM_KEYS and v})
    filled = {}
    for key, value in merged.items():
        for placeholder, replacement in context.placeholders.items():
            value = value.replace(placeholder, replacement)
        if value:
            filled[key] = value
    return filled


def add_query_parameters(url: str, parameters: Mapping[str, str]) -> str:
    """`url` with `parameters` added; a parameter the link already has is kept as written."""
    parts = urlsplit(url)
    existing = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in existing}
    added = [(k, v) for k, v in parameters.items() if k not in present]
    if not added:
        return url
    query = parts.query + ("&" if parts.query else "") + urlencode(added)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def utm_context(session: Session, delivery: Delivery) -> tuple[UtmContext, Campaign, Step]:
    step = delivery.step
    campaign = step.campaign
    account = session.get(ChannelAccount, step.channel_account_id)
    context = UtmContext(
        campaign_name=campaign.name,
        step_name=step.name,
        channel_kind=step.channel_kind,
        source=account.adapter if account else step.channel_kind,
        segment_slug=delivery.segment_slug,
    )
    return context, campaign, step


def delivery_utm(session: Session, delivery: Delivery) -> dict[str, str]:
    context, campaign, step = utm_context(session, delivery)
    return merge_utm(context, campaign.utm or {}, (step.options or {}).get("utm", {}))


# --- recording -----------------------------------------------------------------------------


def _event(delivery: Delivery, kind: EventKind, now: datetime, url: str = "") -> Event:
    step = delivery.step
    return Event(
        kind=kind,
        delivery_id=delivery.id,
        campaign_id=step.campaign_id,
        step_id=step.id,
        contact_id=delivery.contact_id,
        channel_kind=step.channel_kind,
        segment_slug=delivery.segment_slug,
        url=url,
        occurred_at=now,
    )


def record_click(
    session: Session, signer: TokenSigner, token: str, now: datetime | None = None
) -> str | None:
    """The URL to redirect to, with UTM parameters, after recording the click; None if the
    token is not one we signed (the caller answers 404)."""
    payload = signer.verify(CLICK_PURPOSE, token)
    if not isinstance(payload, dict):
        return None
    url, delivery_id = payload.get("u"), payload.get("d")
    if not isinstance(url, str) or not is_web_url(url) or not isinstance(delivery_id, int):
        return None
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        # A signed link whose delivery is gone (a preview, a deleted campaign) still works.
        return url
    session.add(_event(delivery, EventKind.CLICK, now or utcnow(), url))
    session.flush()
    return add_query_parameters(url, delivery_utm(session, delivery))


def record_open(
    session: Session, signer: TokenSigner, token: str, now: datetime | None = None
) -> bool:
    """Record an open for a signed pixel token; False if the token is not ours."""
    payload = signer.verify(OPEN_PURPOSE, token)
    if not isinstance(payload, dict) or not isinstance(payload.get("d"), int):
        return False
    delivery = session.get(Delivery, payload["d"])
    if delivery is not None:
        session.add(_event(delivery, EventKind.OPEN, now or utcnow()))
        session.flush()
    return True
