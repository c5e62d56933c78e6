"""The login pages' HTML: Jinja2 templates (``templates/``) with every value escaped.

Autoescaping is on for every template, and ``StrictUndefined`` turns a missing value into an
error rather than an empty string. Each page is sent with a content security policy that runs no
script except the one a ``form_post`` answer carries (by its nonce), and may not be framed.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import jinja2
from starlette.responses import Response

__all__ = ["HTML_TYPE", "page"]

HTML_TYPE = "text/html; charset=utf-8"

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("identitystore.emulator", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def page(
    template: str,
    status: int = 200,
    *,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> Response:
    """``template`` rendered with ``context`` (and a fresh ``script_nonce``) as HTML."""
    nonce = secrets.token_urlsafe(16)
    body = _ENV.get_template(template).render(script_nonce=nonce, **context)
    policy = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'nonce-{nonce}'; frame-ancestors 'none'; base-uri 'none'"
    )
    answer_headers = {
        "content-security-policy": policy,
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
        **(headers or {}),
    }
    return Response(body, status_code=status, headers=answer_headers, media_type=HTML_TYPE)
