"""Unsubscribe links and the preference centre: signed tokens and what following them does.

A link carries an itsdangerous token signed with the app's secret (`TokenSigner`), with a
purpose of its own, so it cannot be guessed, altered, or used for the other page. Tokens do
not expire: an unsubscribe link in a years-old email must still work.

The delivery engine builds a link as `base_url + unsubscribe_path(signer, contact_id,
campaign_id)` for the List-Unsubscribe header (RFC 8058) and the footer, and
`base_url + preferences_path(signer, contact_id)` for the preference centre.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from audiences.contacts import record_consent
from audiences.models import ConsentChannel, ConsentStatus, Contact, SuppressionReason
from audiences.suppression import lift_suppression, suppress, suppression_for
from campaign_manager.core.security import TokenSigner
from campaign_manager.core.webhooks import WebhookEventType, record_event

UNSUBSCRIBE_PURPOSE = "unsubscribe"
PREFERENCES_PURPOSE = "preferences"

# What the preference centre offers; parental consent is recorded by staff, not by the child.
PREFERENCE_CHANNELS = (ConsentChannel.EMAIL, ConsentChannel.PRINT)
# What a contact lifts by opting in to email again; bounces and erasures stay.
SELF_LIFTABLE = (SuppressionReason.UNSUBSCRIBED, SuppressionReason.COMPLAINED)


@dataclass(frozen=True)
class UnsubscribeLink:
    contact_id: int
    campaign_id: int | None = None


def unsubscribe_token(signer: TokenSigner, contact_id: int, campaign_id: int | None = None) -> str:
    payload: dict[str, int] = {"contact": contact_id}
    if campaign_id is not None:
        payload["campaign"] = campaign_id
    return signer.sign(UNSUBSCRIBE_PURPOSE, payload)


def unsubscribe_path(signer: TokenSigner, contact_id: int, campaign_id: int | None = None) -> str:
    """The path of the one-click unsubscribe link, "/u/<token>"; prefix it with base_url."""
    return f"/u/{unsubscribe_token(signer, contact_id, campaign_id)}"


def read_unsubscribe_token(signer: TokenSigner, token: str) -> UnsubscribeLink | None:
    """The link's payload, or None when the token is forged or made for another purpose."""
    payload = signer.verify(UNSUBSCRIBE_PURPOSE, token)
    if not isinstance(payload, Mapping) or not isinstance(payload.get("contact"), int):
        return None
    campaign = payload.get("campaign")
    return UnsubscribeLink(payload["contact"], campaign if isinstance(campaign, int) else None)


def preferences_path(signer: TokenSigner, contact_id: int) -> str:
    """The path of the contact's preference centre, "/preferences/<token>".

    Prefix it with base_url. (Landing pages own /p/.)
    """
    return f"/preferences/{signer.sign(PREFERENCES_PURPOSE, {'contact': contact_id})}"


def read_preferences_token(signer: TokenSigner, token: str) -> int | None:
    payload = signer.verify(PREFERENCES_PURPOSE, token)
    if not isinstance(payload, Mapping) or not isinstance(payload.get("contact"), int):
        return None
    return payload["contact"]


def unsubscribe(session: Session, link: UnsubscribeLink, *, ip: str | None = None) -> bool:
    """Stop email to the link's contact at once; False if the contact no longer exists.

    Following a link twice changes nothing the second time. The caller commits.
    """
    contact = session.get(Contact, link.contact_id)
    if contact is None:
        return False
    source = "one-click unsubscribe"
    if link.campaign_id is not None:
        source += f" (campaign #{link.campaign_id})"
    unsubscribe_contact(session, contact, source, ip=ip, campaign_id=link.campaign_id)
    return True


def unsubscribe_contact(
    session: Session,
    contact: Contact,
    source: str,
    *,
    ip: str | None = None,
    campaign_id: int | None = None,
) -> bool:
    """Stop email to the contact: suppress the address (or withdraw consent without one),
    and tell webhook subscribers. False, and nothing new, if they were unsubscribed already.
    The caller commits."""
    already = contact.consent_email is ConsentStatus.WITHDRAWN and (
        not contact.email or suppression_for(session, contact) is not None
    )
    if contact.email:
        suppress(session, contact, SuppressionReason.UNSUBSCRIBED, source, ip=ip)
    elif contact.consent_email is not ConsentStatus.WITHDRAWN:
        record_consent(
            session, contact, ConsentChannel.EMAIL, ConsentStatus.WITHDRAWN, source, ip=ip
        )
    if not already:
        emit_unsubscribed(session, contact, ConsentChannel.EMAIL, source, campaign_id)
    return not already


def emit_unsubscribed(
    session: Session,
    contact: Contact,
    channel: ConsentChannel,
    source: str,
    campaign_id: int | None = None,
) -> None:
    """The contact.unsubscribed webhook event, in the caller's transaction.

    It carries the address, because a partner's CRM needs it to stop mailing them too.
    """
    record_event(
        session,
        WebhookEventType.CONTACT_UNSUBSCRIBED,
        {
            "contact_id": contact.id,
            "email": contact.email,
            "channel": channel.value,
            "source": source,
            "campaign_id": campaign_id,
        },
    )


@dataclass(frozen=True)
class Preferences:
    """What the preference centre shows: per channel, whether the contact gets it."""

    subscribed: dict[ConsentChannel, bool]
    # Set when email cannot be resumed by the contact (a bounce, or staff blocked it).
    email_blocked_reason: SuppressionReason | None


def preferences_of(session: Session, contact: Contact) -> Preferences:
    suppression = suppression_for(session, contact) if contact.email else None
    email_suppressed = suppression is not None
    subscribed = {
        channel: contact.consent(channel) is ConsentStatus.GRANTED
        for channel in PREFERENCE_CHANNELS
    }
    subscribed[ConsentChannel.EMAIL] = subscribed[ConsentChannel.EMAIL] and not email_suppressed
    blocked = (
        suppression.reason if suppression and suppression.reason not in SELF_LIFTABLE else None
    )
    return Preferences(subscribed=subscribed, email_blocked_reason=blocked)


def save_preferences(
    session: Session, contact: Contact, wanted: Mapping[ConsentChannel, bool], *, ip: str | None
) -> Preferences:
    """Record the contact's choices; opting in to email again lifts their own unsubscribe."""
    source = "preference centre"
    current = preferences_of(session, contact)
    for channel in PREFERENCE_CHANNELS:
        want = wanted.get(channel, False)
        if want == current.subscribed[channel]:
            continue
        if channel is ConsentChannel.EMAIL and contact.email:
            if want:
                lift_suppression(session, contact, SELF_LIFTABLE)
            else:
                suppress(session, contact, SuppressionReason.UNSUBSCRIBED, source, ip=ip)
                emit_unsubscribed(session, contact, channel, source)
                continue  # suppress() recorded the withdrawal
        status = ConsentStatus.GRANTED if want else ConsentStatus.WITHDRAWN
        if contact.consent(channel) is not status:
            record_consent(session, contact, channel, status, source, ip=ip)
        if not want:
            emit_unsubscribed(session, contact, channel, source)
    return preferences_of(session, contact)
