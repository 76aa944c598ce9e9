"""Segments: rule-based groups of contacts, their counts and members."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint(
    "api_segments",
    __name__,
    url_prefix="/api/v1/segments",
    description="Rule-based groups of contacts, with counts and members.",
)
