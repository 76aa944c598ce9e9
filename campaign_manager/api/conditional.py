"""ETags and If-Match, so two programs cannot silently overwrite each other's changes.

The ETag of a resource is a hash of its JSON representation, so it changes exactly when
something a client can see changes. GET answers with it (and 304 to a matching
If-None-Match); PATCH, PUT and DELETE must send it back in If-Match: without it they get
428 Precondition Required, and with a stale one 412 Precondition Failed, after which the
client reads the resource again and reapplies its change.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Response, json, request

from campaign_manager.api.problems import ApiProblem


def etag_of(representation: Any) -> str:
    canonical = json.dumps(representation, sort_keys=True, separators=(",", ":"))
    return '"' + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32] + '"'


def _listed(header: str) -> set[str]:
    # Weak validators (W/"...") never match for If-Match (RFC 9110 13.1.1: strong comparison).
    return {part.strip() for part in header.split(",") if part.strip()}


def require_if_match(current: Any) -> None:
    """Refuse a change unless If-Match names the current representation (or is *)."""
    header = request.headers.get("If-Match")
    if header is None:
        raise ApiProblem(
            428,
            "Send the resource's ETag (from a GET) in If-Match, so a change made meanwhile "
            "by someone else is not overwritten.",
        )
    tags = _listed(header)
    if "*" not in tags and etag_of(current) not in tags:
        raise ApiProblem(
            412,
            "The resource changed since you read it (its ETag differs from If-Match). "
            "Read it again and reapply your change.",
        )


def with_etag(response: Response, representation: Any) -> Response:
    """Set the ETag; answer a GET whose If-None-Match matches with 304 and no body."""
    tag = etag_of(representation)
    response.headers["ETag"] = tag
    if request.method in ("GET", "HEAD"):
        header = request.headers.get("If-None-Match", "")
        listed = {t.removeprefix("W/") for t in _listed(header)}
        if "*" in listed or tag in listed:
            not_modified = Response(status=304)
            not_modified.headers["ETag"] = tag
            return not_modified
    return response


def check_if_match_when_sent(current: Any) -> None:
    """For actions (POST .../approve): If-Match is optional, but a stale one still gets 412,
    so a client may say "only if nobody changed it since I looked"."""
    if request.headers.get("If-Match") is not None:
        require_if_match(current)
