"""Rendering one delivery into the `RenderedMessage` its adapter sends.

Email is rendered per recipient (their name, school, unsubscribe link), with tracked
links and, where allowed, an open pixel; social, web and print messages are rendered per
target. The recipient is classified again at send time: somebody who unsubscribed after
the step was materialised is not sent to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audiences.recipients import RecipientStatus, recipient_for, recipients_for
from audiences.unsubscribe import preferences_path, unsubscribe_path
from campaign_manager.campaigns.models import Campaign, Delivery, Step
from campaign_manager.campaigns.tracking import open_pixel, rewrite_links
from campaign_manager.channels.base import ChannelKind, MediaItem, RenderedMessage
from campaign_manager.channels.models import ChannelAccount
from campaign_manager.channels.print_export import PrintExportError, build_print_message
from campaign_manager.core.config import Settings
from campaign_manager.core.security import TokenSigner
from creatives.email import render_email
from creatives.errors import CreativeError
from creatives.social import render_social
from creatives.versions import get_version
from schedulers.worker import NotEligibleAnyMore, RenderError

# Which network's rules a social adapter's posts follow.
NETWORK_OF_ADAPTER = {
    "mastodon": "mastodon",
    "bluesky": "bluesky",
    "x": "x",
    "linkedin": "linkedin",
    "facebook_page": "facebook",
}


class DeliveryRenderer:
    def __init__(self, settings: Settings, signer: TokenSigner) -> None:
        self.settings = settings
        self.signer = signer
        self.base_url = settings.app.base_url.rstrip("/")

    def prepare(self, session: Session, deliveries: Sequence[Delivery]) -> None:
        """Check a batch's email recipients in one query instead of one per email.

        Still just before sending: the worker renders and sends the batch right after.
        """
        contact_ids = [
            d.contact_id
            for d in deliveries
            if d.contact_id is not None and d.step.channel_kind == ChannelKind.EMAIL
        ]
        session.info["email_recipients"] = recipients_for(session, contact_ids, "email")

    def render(self, session: Session, delivery: Delivery) -> RenderedMessage:
        step = delivery.step
        version_id = delivery.creative_version_id or step.creative_version_id
        if version_id is None:
            raise RenderError("the step has no frozen creative version (approve the campaign)")
        _keep_for_the_batch(session, version_id)
        try:
            if step.channel_kind == ChannelKind.EMAIL:
                return self._email(session, delivery, step, version_id)
            if step.channel_kind == ChannelKind.SOCIAL:
                return self._social(session, delivery, step, version_id)
            if step.channel_kind == ChannelKind.WEB:
                return self._web(session, delivery, step, version_id)
            if step.channel_kind == ChannelKind.PRINT:
                return self._print(session, delivery, step, version_id)
        except CreativeError as exc:
            raise RenderError(str(exc)) from None
        raise RenderError(f"no renderer for channel kind {step.channel_kind!r}")

    # --- email ------------------------------------------------------------------------------

    def _email(
        self, session: Session, delivery: Delivery, step: Step, version_id: int
    ) -> RenderedMessage:
        campaign: Campaign = step.campaign
        prepared = session.info.get("email_recipients", {})
        recipient = prepared.get(delivery.contact_id) or recipient_for(
            session, delivery.contact_id, "email"
        )
        if recipient is None:
            raise NotEligibleAnyMore("skipped", "the contact was erased")
        if recipient.status is not RecipientStatus.ELIGIBLE:
            raise NotEligibleAnyMore(recipient.status.value, str(recipient.reason.value))
        unsubscribe_url = self.base_url + unsubscribe_path(
            self.signer, recipient.contact_id, campaign.id
        )
        context: dict[str, Any] = {
            **recipient.attributes,
            "first_name": recipient.first_name,
            "last_name": recipient.last_name,
            "school": recipient.school,
            "region": recipient.region,
            "unsubscribe_url": unsubscribe_url,
            "preferences_url": self.base_url + preferences_path(self.signer, recipient.contact_id),
            "postal_address": self.settings.app.postal_address,
        }
        email = render_email(session, version_id, delivery.variant_key, context)
        html = rewrite_links(
            email.html,
            delivery_id=delivery.id,
            signer=self.signer,
            base_url=self.base_url,
            untracked=(context["unsubscribe_url"], context["preferences_url"]),
        )
        pixel = open_pixel(
            self.signer,
            self.base_url,
            delivery.id,
            allow_open_tracking=campaign.open_tracking and recipient.allow_open_tracking,
        )
        if pixel:
            html = _before_body_end(html, pixel)
        domain = (campaign.sender_address or "localhost").rpartition("@")[2]
        return RenderedMessage(
            kind=ChannelKind.EMAIL,
            to=recipient.email or "",
            to_name=f"{recipient.first_name} {recipient.last_name}".strip(),
            subject=email.subject,
            text=email.text,
            html=html,
            from_address=campaign.sender_address,
            from_name=campaign.sender_name or self.settings.app.organization_name,
            reply_to=campaign.reply_to,
            headers=self._email_headers(delivery, domain, unsubscribe_url),
            tags=_tags(delivery, step),
        )

    def _email_headers(
        self, delivery: Delivery, domain: str, unsubscribe_url: str
    ) -> dict[str, str]:
        # One Message-ID per delivery, whatever the attempt: a duplicate is visible.
        headers = {"Message-ID": f"<cm-delivery-{delivery.id}@{domain}>"}
        # RFC 8058 one-click unsubscribe needs https; production refuses a plain-http
        # base_url, so only a development instance sends without these headers (the
        # footer's unsubscribe link is always there).
        if unsubscribe_url.startswith("https://"):
            headers["List-Unsubscribe"] = f"<{unsubscribe_url}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return headers

    # --- social, web, print -----------------------------------------------------------------

    def _social(
        self, session: Session, delivery: Delivery, step: Step, version_id: int
    ) -> RenderedMessage:
        post = render_social(session, version_id, self._network(session, step))
        return RenderedMessage(
            kind=ChannelKind.SOCIAL,
            text=post.text,
            link=post.link,
            media=tuple(
                MediaItem(
                    filename=f"image-{index}",
                    content_type=item.mime,
                    data=item.data,
                    alt_text=item.alt_text,
                    width=item.width,
                    height=item.height,
                )
                for index, item in enumerate(post.media, start=1)
            ),
            tags=_tags(delivery, step),
        )

    @staticmethod
    def _network(session: Session, step: Step) -> str:
        """The network a social step posts to: its adapter's, or the target's (sandbox)."""
        adapter = session.scalar(
            select(ChannelAccount.adapter).where(ChannelAccount.id == step.channel_account_id)
        )
        network = step.target.get("network") or NETWORK_OF_ADAPTER.get(adapter or "")
        if not network:
            raise RenderError(
                "a social step on a sandbox account needs a target network (x, bluesky, "
                "mastodon, linkedin or facebook)"
            )
        return network

    def _web(
        self, session: Session, delivery: Delivery, step: Step, version_id: int
    ) -> RenderedMessage:
        from creatives.landing import render_landing_page

        html = render_landing_page(session, version_id, step.options.get("utm", {}))
        return RenderedMessage(
            kind=ChannelKind.WEB,
            title=step.name,
            html=html,
            slug=str(step.target.get("slug", "")),
            publish_at=step.run_at,
            manifest={"creative_id": step.creative_id, "version_id": version_id},
            tags=_tags(delivery, step),
        )

    def _print(
        self, session: Session, delivery: Delivery, step: Step, version_id: int
    ) -> RenderedMessage:
        try:
            return build_print_message(session, version_id, step.target, step_id=step.id)
        except PrintExportError as exc:
            raise RenderError(str(exc)) from None


def _keep_for_the_batch(session: Session, version_id: int) -> None:
    """Hold the creative version (with its variants) for as long as the batch's session.

    The identity map keeps only objects something refers to: without this, each delivery
    of a batch loaded the version, its creative and its variants again, three queries per
    email (seen with py-spy in `campaign-manager bench email`).
    """
    kept = session.info.setdefault("rendered_versions", {})
    if version_id not in kept:
        version = get_version(session, version_id)
        kept[version_id] = (version, version.creative, list(version.variants))


def _before_body_end(html: str, snippet: str) -> str:
    position = html.lower().rfind("</body>")
    return html + snippet if position < 0 else html[:position] + snippet + html[position:]


def _tags(delivery: Delivery, step: Step) -> Mapping[str, str]:
    return {"campaign": str(step.campaign_id), "step": str(step.id), "delivery": str(delivery.id)}
