"""The error campaign services raise for bad input."""

from __future__ import annotations


class CampaignError(ValueError):
    """Bad input to a campaign service; `field` names the input at fault, if one is.

    The message is safe to show and says what to change.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
