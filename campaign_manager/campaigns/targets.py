"""What a social, web or print step goes to: its `target` JSON, as a person enters it and
as the engine reads it.

- social: `{"network": "mastodon"}` on a sandbox account, which stands in for any network
  (a real account's adapter is its network, so its target is empty);
- web: `{"slug": "collision-careers"}`, the page's address on the site;
- print: a print-vendor order, the JSON `channels.print_target.PrintTarget` documents,
  checked against the vendor, the piece and its co-brand partners when the step is saved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from campaign_manager.campaigns.errors import CampaignError
from campaign_manager.channels.base import ChannelKind
from campaign_manager.channels.models import ChannelAccount
from campaign_manager.channels.print_target import (
    SHIP_TO_SCHOOL,
    PrintExportError,
    PrintTarget,
    PrintTargetError,
    resolve_print_target,
)
from campaign_manager.channels.registry import AdapterNotAvailable, adapter_class
from creatives.models import Creative
from creatives.social_rules import Network
from creatives.versions import variant_content

SLUG = re.compile(r"^[a-z0-9]+(?:[-/][a-z0-9]+)*$")
# Print target keys that have a field of their own in the step forms.
PRINT_FIELDS = ("vendor_id", "quantity", "paper_stock", "due_date", "finishing", "ship_to")


@dataclass(frozen=True)
class TargetInput:
    """The target fields of a step form; each kind of step reads its own."""

    network: str = ""
    slug: str = ""
    vendor_id: int | None = None
    quantity: int | None = None
    paper_stock: str = ""
    due_date: date | None = None
    finishing: str = ""
    ship_to: str = SHIP_TO_SCHOOL
    # Co-brand partner keys separated by commas; empty: every partner of the piece.
    variants: str = ""


def is_sandbox(adapter: str) -> bool:
    """Sandbox adapters record instead of sending; a sandbox social account stands in for
    any network, so its steps name one."""
    try:
        return bool(getattr(adapter_class(adapter), "sandbox", False))
    except AdapterNotAvailable:
        return False


def check_target(
    session: Session,
    kind: ChannelKind,
    account: ChannelAccount,
    creative: Creative,
    data: TargetInput,
) -> dict[str, Any]:
    """The target JSON of a step of `kind`, or CampaignError naming the field at fault."""
    if kind is ChannelKind.SOCIAL:
        return _social(account, creative, data.network.strip().lower())
    if kind is ChannelKind.WEB:
        slug = data.slug.strip().strip("/").lower() or (creative.slug or "")
        if slug and not SLUG.match(slug):
            raise CampaignError(
                "The page address may use lower-case letters, digits, - and /.", "slug"
            )
        return {"slug": slug} if slug else {}
    if kind is ChannelKind.PRINT:
        return _print(session, creative, data)
    return {}


def _social(account: ChannelAccount, creative: Creative, network: str) -> dict[str, Any]:
    if not is_sandbox(account.adapter):
        # The account's adapter is the network; nothing to choose.
        return {}
    names = [n.value for n in Network]
    if network not in names:
        raise CampaignError(
            f"{account.display_name} is a sandbox account: choose the network it stands in "
            f"for ({', '.join(names)}).",
            "network",
        )
    written_for = variant_content(creative.current_version).networks
    if network not in written_for:
        raise CampaignError(
            f"{creative.name} is written for {', '.join(written_for) or 'no network yet'}, "
            f"not {network}; choose one of those or edit the post.",
            "network",
        )
    return {"network": network}


def _print(session: Session, creative: Creative, data: TargetInput) -> dict[str, Any]:
    variants = [key.strip() for key in data.variants.split(",") if key.strip()]
    raw: dict[str, Any] = {
        "vendor_id": data.vendor_id,
        "quantity": data.quantity,
        "paper_stock": data.paper_stock,
        "due_date": data.due_date.isoformat() if data.due_date else None,
        "finishing": data.finishing,
        "ship_to": data.ship_to or SHIP_TO_SCHOOL,
        "variants": variants or None,
    }
    try:
        target = PrintTarget.from_json(raw)
        resolve_print_target(session, creative.current_version.id, target)
    except PrintTargetError as exc:
        raise CampaignError(
            "The print order is not complete: " + "; ".join(exc.problems) + ".",
            _field_of(exc.problems[0]),
        ) from None
    except PrintExportError as exc:
        raise CampaignError(str(exc), "creative_id") from None
    return target.as_json()


def _field_of(problem: str) -> str | None:
    """The form field a print-target problem is about ("quantity: must be ..." → quantity)."""
    if problem.startswith("no ship-to address"):
        return "ship_to"
    for name in (*PRINT_FIELDS, "variants"):
        if problem.startswith(name):
            return name
    return None


def target_input_of(target: dict[str, Any] | None) -> TargetInput:
    """The form values that would produce `target` again."""
    target = target or {}
    due = target.get("due_date")
    variants = target.get("variants")
    return TargetInput(
        network=target.get("network", ""),
        slug=target.get("slug", ""),
        vendor_id=target.get("vendor_id"),
        quantity=target.get("quantity"),
        paper_stock=target.get("paper_stock", ""),
        due_date=date.fromisoformat(due) if due else None,
        finishing=target.get("finishing", ""),
        ship_to=target.get("ship_to", SHIP_TO_SCHOOL),
        variants=", ".join(variants) if isinstance(variants, list) else "",
    )


def describe_target(kind: str, target: dict[str, Any] | None) -> str:
    """A step's target in a few words, for lists and the calendar."""
    target = target or {}
    if kind == ChannelKind.SOCIAL and target.get("network"):
        return f"as {target['network']}"
    if kind == ChannelKind.WEB and target.get("slug"):
        return f"page /{target['slug']}"
    if kind == ChannelKind.PRINT and target.get("quantity"):
        variants = target.get("variants")
        which = f"{len(variants)} variants" if variants else "every partner"
        return f"{target['quantity']} each, {which}, due {target.get('due_date', '?')}"
    return "the account's feed" if kind == ChannelKind.SOCIAL else ""
