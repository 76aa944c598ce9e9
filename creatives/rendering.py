"""The Jinja environment for the package's own (trusted) page and print templates.

Editors' text reaches these templates only as escaped values, or as HTML sanitised with
nh3 first; editors' own templates (email) use the sandboxed environments in email.py.
"""

from __future__ import annotations

import functools
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from jinja2 import Environment, PackageLoader, select_autoescape

from creatives.models import Asset


@functools.cache
def template_env() -> Environment:
    return Environment(
        loader=PackageLoader("creatives", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def media_path(asset: Asset) -> str:
    """The public address of an asset's file, relative to the site (served by the web app).

    Content-addressed, so it never changes meaning and cannot be guessed without the file.
    """
    return f"/media/{asset.sha256}.{asset.extension}"


def add_query(url: str, params: dict[str, str], *, override: bool = False) -> str:
    """The URL with `params` added to its query string (kept if already there, unless
    `override`); non-http(s) URLs are returned unchanged."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "") or not params:
        return url
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for key, value in params.items():
        if override or key not in query:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))
