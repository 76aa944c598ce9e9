"""A print step's target: what it asks of a vendor, parsed, checked and resolved.

`PrintTarget.from_json` parses a step's `target` JSON (every problem at once, in a
`PrintTargetError`); `resolve_print_target` fills in the defaults from the database (the
vendor, the piece's profile and co-brand partners, the schools' addresses) without
rendering anything, so a step form can refuse a bad target when it is saved.

The target JSON (only `vendor_id`, `quantity`, `paper_stock` and `due_date` are required):

    {
      "vendor_id": 3,                      # the print company (core.accounts.Vendor)
      "variants": ["adams-high", "lee-high"],
                                           # co-brand partner keys; omitted, null or "all":
                                           # every partner of the piece's brand kit
      "quantity": 250,                     # copies of each variant ...
      "quantities": {"adams-high": 500},   # ... unless overridden here
      "profile": "letter-flyer",           # a print profile key; default: the piece's own
      "paper_stock": "100 lb gloss text",
      "finishing": "trim to size, shrink-wrap in 50s",   # optional
      "ship_to": "school",                 # default for every variant: "school" (the
                                           # partner's organisation address, else the
                                           # vendor's), "vendor", or an address
      "ship_to_by_variant": {"lee-high": "Attn: Ms Lee\\n1 Main St\\nDover, DE 19901"},
      "due_date": "2025-09-01",
      "one_file": true,                    # one PDF, a page per variant; false: a PDF each
      "crop_marks": null,                  # null: as the vendor wants (wants_crop_marks)
      "cmyk": null,                        # null: as the profile says; true forces CMYK
      "pdf_x": null                        # "pdf/x-1a", "pdf/x-3" or "pdf/x-4" if asked
    }
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from campaign_manager.core.accounts import Organization, Vendor
from creatives.errors import CreativeError
from creatives.models import CobrandPartner, CreativeKind, CreativeVersion
from creatives.print_profiles import PROFILES, PrintProfile, get_profile
from creatives.printing import PDF_X_VARIANTS
from creatives.versions import get_version, variant_content

SHIP_TO_SCHOOL = "school"
SHIP_TO_VENDOR = "vendor"
MAX_QUANTITY = 1_000_000
MAX_ADDRESS_LENGTH = 1000


class PrintExportError(ValueError):
    """A print step cannot be sent as it stands; the message says what to change.

    The engine records it as a permanent failure (a retry would fail the same way).
    """


class PrintTargetError(PrintExportError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("The print target is not valid: " + "; ".join(problems))


# --- the target ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PrintTarget:
    """What a print step asks of a vendor (see the module docstring for the JSON)."""

    vendor_id: int
    quantity: int
    paper_stock: str
    due_date: date
    # None: every co-brand partner of the piece's brand kit.
    variants: tuple[str, ...] | None = None
    quantities: Mapping[str, int] = field(default_factory=dict)
    # None: the profile the piece was designed for.
    profile: str | None = None
    finishing: str = ""
    ship_to: str = SHIP_TO_SCHOOL
    ship_to_by_variant: Mapping[str, str] = field(default_factory=dict)
    one_file: bool = True
    # None: as the vendor wants.
    crop_marks: bool | None = None
    # None: as the profile's colour mode says.
    cmyk: bool | None = None
    pdf_x: str | None = None

    KEYS: ClassVar[tuple[str, ...]] = (
        "vendor_id",
        "variants",
        "quantity",
        "quantities",
        "profile",
        "paper_stock",
        "finishing",
        "ship_to",
        "ship_to_by_variant",
        "due_date",
        "one_file",
        "crop_marks",
        "cmyk",
        "pdf_x",
    )

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> PrintTarget:
        """Parse and check a step's target; PrintTargetError lists every problem at once."""
        if not isinstance(data, Mapping):
            raise PrintTargetError(["the target must be a JSON object"])
        problems: list[str] = []
        unknown = sorted(set(data) - set(cls.KEYS))
        if unknown:
            problems.append(
                f"unknown key(s) {', '.join(unknown)}; the known keys are {', '.join(cls.KEYS)}"
            )
        values: dict[str, Any] = {}

        def take(name: str, parse: Callable[[Any], Any], *, required: bool = False) -> None:
            if data.get(name) is None:
                if required:
                    problems.append(f"{name} is required")
                return
            try:
                values[name] = parse(data[name])
            except ValueError as exc:
                problems.append(f"{name}: {exc}")

        take("vendor_id", lambda v: _whole_number(v, 1, None), required=True)
        take("quantity", lambda v: _whole_number(v, 1, MAX_QUANTITY), required=True)
        take("paper_stock", lambda v: _text(v, 200), required=True)
        take("due_date", _iso_date, required=True)
        take("variants", _variant_keys)
        take("quantities", lambda v: _keyed(v, lambda n: _whole_number(n, 1, MAX_QUANTITY)))
        take("profile", _profile_key)
        take("finishing", lambda v: _text(v, 300, allow_empty=True))
        take("ship_to", lambda v: _text(v, MAX_ADDRESS_LENGTH))
        take("ship_to_by_variant", lambda v: _keyed(v, lambda a: _text(a, MAX_ADDRESS_LENGTH)))
        take("one_file", _boolean)
        take("crop_marks", _boolean)
        take("cmyk", _boolean)
        take("pdf_x", _pdf_x)
        chosen = values.get("variants")
        if chosen is not None:
            for name in ("quantities", "ship_to_by_variant"):
                extra = sorted(set(values.get(name, {})) - set(chosen))
                if extra:
                    problems.append(f"{name} names variants that are not printed: {extra}")
        if problems:
            raise PrintTargetError(problems)
        return cls(**values)

    def as_json(self) -> dict[str, Any]:
        """The target as JSON again (what a step stores), with every default written out."""
        data = asdict(self)
        data["variants"] = list(self.variants) if self.variants is not None else None
        data["due_date"] = self.due_date.isoformat()
        return data

    def quantity_for(self, key: str) -> int:
        return self.quantities.get(key, self.quantity)


def _whole_number(value: Any, low: int, high: int | None) -> int:
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())
    ):
        raise ValueError(f"expected a whole number, got {value!r}")
    number = int(value)
    if number < low or (high is not None and number > high):
        limit = f"between {low} and {high:,}" if high is not None else f"at least {low}"
        raise ValueError(f"must be {limit}, got {number}")
    return number


def _text(value: Any, max_length: int, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {value!r}")
    value = value.strip()
    if not value and not allow_empty:
        raise ValueError("must not be empty")
    if len(value) > max_length:
        raise ValueError(f"must be at most {max_length} characters")
    return value


def _iso_date(value: Any) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a date like 2025-09-01, got {value!r}") from None


def _variant_keys(value: Any) -> tuple[str, ...] | None:
    if value == "all":
        return None
    if not isinstance(value, list) or not value:
        raise ValueError('expected a list of co-brand partner keys, or "all"')
    keys = []
    for key in value:
        if not isinstance(key, str):
            raise ValueError(f"a variant key must be text, got {key!r}")
        keys.append(key.strip())
    if len(set(keys)) != len(keys):
        raise ValueError("a variant is listed twice")
    return tuple(keys)


def _keyed(value: Any, parse: Callable[[Any], Any]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError("expected an object keyed by variant")
    parsed = {}
    for key, item in value.items():
        try:
            parsed[str(key)] = parse(item)
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
    return parsed


def _profile_key(value: Any) -> str:
    if value not in PROFILES:
        raise ValueError(f"unknown print profile {value!r}; known: {', '.join(PROFILES)}")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true, false or null, got {value!r}")
    return value


def _pdf_x(value: Any) -> str:
    if value not in PDF_X_VARIANTS:
        raise ValueError(f"expected one of {', '.join(PDF_X_VARIANTS)}, got {value!r}")
    return value


# --- resolving the target against the database --------------------------------------------


@dataclass(frozen=True)
class PrintVariant:
    key: str  # a co-brand partner's key, or "" for a piece without co-branding
    name: str
    quantity: int
    ship_to: str


@dataclass(frozen=True)
class ResolvedPrintTarget:
    """A target with its defaults filled in from the vendor, the piece and its partners."""

    target: PrintTarget
    vendor: Vendor
    version: CreativeVersion
    profile: PrintProfile
    variants: tuple[PrintVariant, ...]
    crop_marks: bool
    cmyk: bool

    @property
    def variant_keys(self) -> list[str]:
        return [variant.key for variant in self.variants]


def resolve_print_target(
    session: Session, version_id: int, target: PrintTarget | Mapping[str, Any]
) -> ResolvedPrintTarget:
    """Check the target against the database (vendor, piece, partners, addresses).

    Cheap (no rendering): a step form can call it to refuse a bad target on save.
    """
    if not isinstance(target, PrintTarget):
        target = PrintTarget.from_json(target)
    vendor = session.get(Vendor, target.vendor_id)
    if vendor is None:
        raise PrintTargetError([f"vendor_id: there is no vendor {target.vendor_id}"])
    try:
        version = get_version(session, version_id)
    except CreativeError as exc:
        raise PrintExportError(str(exc)) from None
    if version.creative.kind is not CreativeKind.PRINT:
        raise PrintExportError(
            f"{version.creative.name} is a {version.creative.kind.value} creative, not a print "
            "piece; a print step needs a print piece."
        )
    try:
        profile = get_profile(target.profile or variant_content(version).profile)
    except CreativeError as exc:
        raise PrintExportError(str(exc)) from None
    kit = version.creative.brand_kit
    partners = {p.key: p for p in sorted(kit.partners, key=lambda p: p.name.lower())} if kit else {}
    if target.variants is None:
        keys = list(partners) or [""]
    else:
        keys = list(target.variants)
        unknown = [key for key in keys if key and key not in partners]
        if unknown:
            known = ", ".join(partners) or "none (the brand kit has no co-brand partners)"
            raise PrintTargetError(
                [f"variants: unknown co-brand partner(s) {', '.join(unknown)}; known: {known}"]
            )
    extra = sorted(set(target.quantities) - set(keys))
    extra += sorted(set(target.ship_to_by_variant) - set(keys) - set(extra))
    if extra:
        raise PrintTargetError([f"variants {', '.join(extra)} are named but not printed"])
    variants = []
    missing_address = []
    for key in keys:
        partner = partners.get(key)
        address = target.ship_to_by_variant.get(key) or _ship_to(session, target, vendor, partner)
        if not address:
            missing_address.append(key or "(plain)")
        variants.append(
            PrintVariant(
                key=key,
                name=partner.name if partner else version.creative.name,
                quantity=target.quantity_for(key),
                ship_to=address,
            )
        )
    if missing_address:
        raise PrintTargetError(
            [
                f"no ship-to address for {', '.join(missing_address)}: neither the school nor "
                f"the vendor {vendor.name} has a postal address; set ship_to or "
                "ship_to_by_variant"
            ]
        )
    cmyk = profile.color_mode.value == "cmyk" if target.cmyk is None else target.cmyk
    crop_marks = vendor.wants_crop_marks if target.crop_marks is None else target.crop_marks
    return ResolvedPrintTarget(target, vendor, version, profile, tuple(variants), crop_marks, cmyk)


def _ship_to(
    session: Session, target: PrintTarget, vendor: Vendor, partner: CobrandPartner | None
) -> str:
    if target.ship_to == SHIP_TO_VENDOR:
        return vendor.postal_address.strip()
    if target.ship_to == SHIP_TO_SCHOOL:
        school = (
            session.get(Organization, partner.organization_id)
            if partner is not None and partner.organization_id
            else None
        )
        if school is not None and school.postal_address.strip():
            return school.postal_address.strip()
        return vendor.postal_address.strip()
    return target.ship_to
