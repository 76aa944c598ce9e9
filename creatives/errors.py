"""Errors and validation problems of the creatives package; every message is safe to show."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Severity(enum.StrEnum):
    # Stops a save (validation) or should stop a print job (preflight).
    ERROR = "error"
    # Worth a look; does not block.
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a creative, tied to the form field (or area) it concerns."""

    field: str
    message: str
    severity: Severity = Severity.ERROR


class CreativeError(ValueError):
    """Bad input to a creatives service; the message says what to do about it."""


class UploadRejected(CreativeError):
    """An upload was refused; nothing was stored."""


class ValidationFailed(CreativeError):
    """A save was refused because of these problems; nothing was changed."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in self.problems))

    def for_field(self, name: str) -> list[str]:
        return [p.message for p in self.problems if p.field == name]


class RenderError(CreativeError):
    """A creative could not be rendered with what the caller gave (e.g. a missing key)."""


def errors_only(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity is Severity.ERROR]
