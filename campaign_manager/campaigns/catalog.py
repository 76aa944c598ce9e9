"""What a step can point at: channel accounts, audience segments and creatives.

Forms list these as choices; the editing services check a submitted id against them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from audiences.models import Segment
from campaign_manager.channels.base import ChannelKind
from campaign_manager.channels.models import AccountStatus, ChannelAccount
from campaign_manager.channels.registry import AdapterNotAvailable, adapter_class
from creatives.models import Creative, CreativeKind
from creatives.versions import find_creatives


@dataclass(frozen=True)
class AccountChoice:
    id: int
    label: str
    adapter: str
    # None when the account's adapter is not installed (it cannot send anything).
    kind: ChannelKind | None
    status: AccountStatus

    @property
    def is_usable(self) -> bool:
        return self.kind is not None and self.status is not AccountStatus.DISABLED


@dataclass(frozen=True)
class Choice:
    id: int
    label: str
    slug: str = ""


def account_kind(account: ChannelAccount) -> ChannelKind | None:
    """The kind of channel (email, social, web, print) of the account's adapter."""
    try:
        return adapter_class(account.adapter).kind
    except AdapterNotAvailable:
        return None


def account_choices(session: Session) -> list[AccountChoice]:
    return [
        AccountChoice(a.id, a.display_name, a.adapter, account_kind(a), a.status)
        for a in session.scalars(select(ChannelAccount).order_by(ChannelAccount.display_name))
    ]


def get_account(session: Session, account_id: int) -> ChannelAccount | None:
    return session.get(ChannelAccount, account_id)


def segment_choices(session: Session) -> list[Choice]:
    return [
        Choice(s.id, s.name, s.slug)
        for s in session.scalars(select(Segment).order_by(Segment.name))
    ]


def get_segment(session: Session, segment_id: int) -> Choice | None:
    segment = session.get(Segment, segment_id)
    return Choice(segment.id, segment.name, segment.slug) if segment else None


def variant_keys(session: Session, creative_id: int) -> set[str]:
    """The segment slugs the creative's current version has its own variant for."""
    creative = session.get(Creative, creative_id)
    if creative is None or not creative.versions:
        return set()
    return {v.key for v in creative.current_version.variants if v.key}


def creative_choices(session: Session, kind: ChannelKind) -> list[Choice]:
    """Creatives a step through a `kind` account can send, most recently edited first."""
    return [
        Choice(c.id, c.name, c.slug or "")
        for c in find_creatives(session, kind=CreativeKind(kind.value))
    ]


def get_creative(session: Session, creative_id: int) -> Creative | None:
    return session.get(Creative, creative_id)


def creative_kind(creative: Creative) -> ChannelKind:
    return ChannelKind(creative.kind.value)
