"""Print profiles: the trim size, bleed, safe area and colour mode of each printed format.

Trim is the finished size after cutting. Artwork runs `bleed` past the trim on every side
so that an imprecise cut leaves no white edge; text stays `safe_margin` inside the trim so
that the cut never touches it. Lengths are in inches (A sizes are exact in millimetres).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from creatives.errors import CreativeError

POINTS_PER_INCH = 72
MM = 1 / 25.4


class ColorMode(enum.StrEnum):
    RGB = "rgb"
    CMYK = "cmyk"


@dataclass(frozen=True)
class PrintProfile:
    key: str
    label: str
    width: float  # trim, inches
    height: float
    bleed: float = 0.125
    safe_margin: float = 0.25
    color_mode: ColorMode = ColorMode.RGB
    # utm_medium of the QR code on this format.
    medium: str = "print"

    @property
    def width_pt(self) -> float:
        return self.width * POINTS_PER_INCH

    @property
    def height_pt(self) -> float:
        return self.height * POINTS_PER_INCH

    @property
    def bleed_pt(self) -> float:
        return self.bleed * POINTS_PER_INCH

    @property
    def safe_pt(self) -> float:
        return self.safe_margin * POINTS_PER_INCH

    @property
    def is_landscape(self) -> bool:
        return self.width > self.height

    @property
    def scale(self) -> float:
        """Type and spacing grow with the short side; a US letter flyer is 1."""
        return min(self.width, self.height) / 8.5

    def describe(self) -> str:
        return (
            f"{self.label}: {self.width:g} x {self.height:g} in trim, {self.bleed:g} in bleed, "
            f"{self.safe_margin:g} in safe margin, {self.color_mode.value.upper()}"
        )


PROFILES = {
    p.key: p
    for p in (
        PrintProfile("letter-flyer", "US letter flyer", 8.5, 11, medium="flyer"),
        PrintProfile(
            "postcard-4x6",
            "4 x 6 postcard",
            6,
            4,
            safe_margin=0.1875,
            color_mode=ColorMode.CMYK,
            medium="postcard",
        ),
        PrintProfile(
            "postcard-5x7",
            "5 x 7 postcard",
            7,
            5,
            safe_margin=0.1875,
            color_mode=ColorMode.CMYK,
            medium="postcard",
        ),
        PrintProfile("poster-11x17", "11 x 17 poster", 11, 17, safe_margin=0.375, medium="poster"),
        PrintProfile("poster-18x24", "18 x 24 poster", 18, 24, safe_margin=0.5, medium="poster"),
        PrintProfile("poster-24x36", "24 x 36 poster", 24, 36, safe_margin=0.75, medium="poster"),
        PrintProfile(
            "door-hanger",
            "4.25 x 11 door hanger",
            4.25,
            11,
            safe_margin=0.25,
            color_mode=ColorMode.CMYK,
            medium="door-hanger",
        ),
        PrintProfile(
            "a4",
            "A4 flyer",
            210 * MM,
            297 * MM,
            bleed=3 * MM,
            safe_margin=6 * MM,
            medium="flyer",
        ),
        PrintProfile(
            "a5",
            "A5 flyer",
            148 * MM,
            210 * MM,
            bleed=3 * MM,
            safe_margin=5 * MM,
            medium="flyer",
        ),
    )
}


def get_profile(profile: PrintProfile | str) -> PrintProfile:
    if isinstance(profile, PrintProfile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise CreativeError(
            f"Unknown print profile {profile!r}; use one of: {', '.join(PROFILES)}."
        ) from None
