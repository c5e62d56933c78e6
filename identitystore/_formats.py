"""The string formats Auth0's JSON-schema validator (z-schema) checks: ``email`` and ``strict-uri``.

A port of validator.js 13.15.35 (the npm release; ``src/lib/isEmail.js``, ``isURL.js``,
``isFQDN.js``, ``isIP.js``, ``isByteLength.js``) restricted to the options z-schema passes:
``isEmail(s, {require_tld: true})`` and ``isURL(s)`` with every other option at its default.
This release's ``isURL`` allows up to 2084 UTF-16 units (its ``max_allowed_length`` default).

JavaScript strings are UTF-16, so every input is first rewritten with each astral character as
its surrogate pair. Lengths, ``\\uXXXX`` character classes and slices then behave as in JS: for
example an emoji fails ``[\\u00A1-\\uD7FF...]`` but passes ``[\\u00a1-\\uffff]``. JS ``\\s``,
``\\d`` and the ``i`` flag are spelled out as explicit ASCII/ECMAScript classes.

One deviation: for a string with an unpaired surrogate, validator.js's ``isEmail`` throws (its
``encodeURI`` raises ``URIError``); :func:`is_email` returns ``False`` instead.
"""

from __future__ import annotations

import re

__all__ = ["is_email", "is_strict_uri"]

# ECMAScript WhiteSpace and LineTerminator: what ``\s`` matches in a JS regex.
_JS_SPACE = r"\t\n\x0b\x0c\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
# The non-ASCII ranges isEmail allows in a local part (no surrogates, no private use).
_UTF8_LOCAL = r"\u00a1-\ud7ff\uf900-\ufdcf\ufdf0-\uffef"
_UTF8_QUOTED = r"\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef"

_ASTRAL = re.compile(r"[\U00010000-\U0010ffff]")
_ASCII_DIGITS = frozenset("0123456789")

_EMAIL_MAX_LENGTH = 254
# A plain ASCII address (dot-atom local part, letters-only TLD) that every check below accepts:
# is_email answers True for it at once, so common addresses skip the UTF-16 and FQDN walk.
_PLAIN_EMAIL = re.compile(
    r"[a-zA-Z0-9!#$%&'*+\-/=?^_`{|}~]+(?:\.[a-zA-Z0-9!#$%&'*+\-/=?^_`{|}~]+)*"
    r"@(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}"
)
_EMAIL_USER_PART = re.compile(rf"[a-zA-Z0-9!#$%&'*+\-/=?^_`{{|}}~{_UTF8_LOCAL}]+")
_QUOTED_EMAIL_USER = re.compile(
    rf"(?:[{_JS_SPACE}\x01-\x08\x0b\x0c\x0e-\x1f\x7f\x21\x23-\x5b\x5d-\x7e{_UTF8_QUOTED}]"
    rf"|\\[\x01-\x09\x0b\x0c\x0d-\x7f{_UTF8_QUOTED}])*"
)

_TLD = re.compile(
    r"[a-zA-Z\u00a1-\u00a8\u00aa-\ud7ff\uf900-\ufdcf\ufdf0-\uffef]{2,}|[xX][nN][a-zA-Z0-9-]{2,}"
)
_HAS_SPACE = re.compile(f"[{_JS_SPACE}]")
_LABEL = re.compile(r"[a-zA-Z_\u00a1-\uffff0-9-]+")
_FULL_WIDTH = re.compile(r"[\uff01-\uff5e]")

_IPV4_SEGMENT = "(?:[0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])"
_IPV4_ADDRESS = f"(?:{_IPV4_SEGMENT}[.]){{3}}{_IPV4_SEGMENT}"
_IPV4 = re.compile(_IPV4_ADDRESS)
_V6 = "(?:[0-9a-fA-F]{1,4})"
_IPV6 = re.compile(
    "(?:"
    f"(?:{_V6}:){{7}}(?:{_V6}|:)|"
    f"(?:{_V6}:){{6}}(?:{_IPV4_ADDRESS}|:{_V6}|:)|"
    f"(?:{_V6}:){{5}}(?::{_IPV4_ADDRESS}|(?::{_V6}){{1,2}}|:)|"
    f"(?:{_V6}:){{4}}(?:(?::{_V6}){{0,1}}:{_IPV4_ADDRESS}|(?::{_V6}){{1,3}}|:)|"
    f"(?:{_V6}:){{3}}(?:(?::{_V6}){{0,2}}:{_IPV4_ADDRESS}|(?::{_V6}){{1,4}}|:)|"
    f"(?:{_V6}:){{2}}(?:(?::{_V6}){{0,3}}:{_IPV4_ADDRESS}|(?::{_V6}){{1,5}}|:)|"
    f"(?:{_V6}:){{1}}(?:(?::{_V6}){{0,4}}:{_IPV4_ADDRESS}|(?::{_V6}){{1,6}}|:)|"
    f"(?::(?:(?::{_V6}){{0,5}}:{_IPV4_ADDRESS}|(?::{_V6}){{1,7}}|:))"
    ")(?:%[0-9a-zA-Z.]{1,})?"
)

_URL_PROTOCOLS = frozenset({"http", "https", "ftp"})
_URL_MAX_LENGTH = 2084
_URL_FORBIDDEN = re.compile(f"[{_JS_SPACE}<>]")
_URL_PROTOCOL = re.compile(r"([a-zA-Z][a-zA-Z0-9+\-.]*):")
_URL_AUTH = re.compile(r"[a-zA-Z0-9\-_.%:]*")
_URL_ENCODED = re.compile(r"%[0-9a-fA-F]{2}")
_URL_WRAPPED_IPV6 = re.compile(r"\[([^\]]+)\](?::([0-9]+))?")
_URL_PORT = re.compile("[0-9]+")


def _split_astral(match: re.Match[str]) -> str:
    offset = ord(match.group()) - 0x10000
    return chr(0xD800 | offset >> 10) + chr(0xDC00 | offset & 0x3FF)


def _utf16(value: str) -> str:
    """``value`` as JS sees it: one code point per UTF-16 code unit."""
    return _ASTRAL.sub(_split_astral, value)


def _byte_length(units: str) -> int | None:
    """isByteLength's UTF-8 length of ``units``; ``None`` where JS's ``encodeURI`` would throw."""
    try:
        return len(units.encode("utf-16-le", "surrogatepass").decode("utf-16-le").encode())
    except UnicodeDecodeError:
        return None


def _is_fqdn(units: str) -> bool:
    """validator.js ``isFQDN`` with its default options."""
    parts = units.split(".")
    tld = parts[-1]
    # isFQDN's separate numeric-TLD check is implied by _TLD, which needs a letter.
    if len(parts) < 2 or not _TLD.fullmatch(tld) or _HAS_SPACE.search(tld):
        return False
    return all(
        len(part) <= 63
        and _LABEL.fullmatch(part)
        and not _FULL_WIDTH.search(part)
        and not part.startswith("-")
        and not part.endswith("-")
        and "_" not in part
        for part in parts
    )


def _is_ip(units: str) -> bool:
    """validator.js ``isIP`` with no version: IPv4 or IPv6."""
    return bool(_IPV4.fullmatch(units) or _IPV6.fullmatch(units))


def is_email(value: str) -> bool:
    """validator.js ``isEmail(value, {require_tld: true})``: z-schema's ``email`` format."""
    if len(value) <= _EMAIL_MAX_LENGTH and _PLAIN_EMAIL.fullmatch(value):
        if value.index("@") <= 64:
            return True
    return _is_email_ported(value)


def _is_email_ported(value: str) -> bool:
    """``is_email`` without the plain-address shortcut: validator.js step by step."""
    units = _utf16(value)
    if len(units) > _EMAIL_MAX_LENGTH:
        return False
    user, _, domain = units.rpartition("@")
    user_bytes = _byte_length(user)
    domain_bytes = _byte_length(domain)
    if user_bytes is None or domain_bytes is None:
        return False
    if user_bytes > 64 or domain_bytes > 254:
        return False
    if not _is_fqdn(domain):
        return False
    if user[:1] == '"' and user[-1:] == '"':
        return _QUOTED_EMAIL_USER.fullmatch(user[1:-1]) is not None
    return all(_EMAIL_USER_PART.fullmatch(part) for part in user.split("."))


def _strip_protocol(url: str) -> tuple[str, bool] | None:
    """isURL's scheme handling: the rest of ``url`` and whether a scheme was consumed.

    ``None`` when the scheme is not http, https or ftp.
    """
    match = _URL_PROTOCOL.match(url)
    if match is None:
        return url, False
    after_colon = url[match.end() :]
    if not after_colon.startswith("//"):
        before_slash = after_colon.partition("/")[0]
        at = before_slash.find("@")
        if at != -1:
            before_at = before_slash[:at]
            if _URL_AUTH.fullmatch(before_at) and not _URL_ENCODED.search(before_at):
                return url, False  # ``user:password@host``, not a scheme
        elif after_colon[:1] in _ASCII_DIGITS:
            return url, False  # ``host:port``, not a scheme
    if match.group(1).lower() not in _URL_PROTOCOLS:
        return None
    return after_colon, True


def is_strict_uri(value: str) -> bool:
    """validator.js ``isURL(value)`` with default options: z-schema's ``strict-uri`` format."""
    url = _utf16(value)
    if not url or _URL_FORBIDDEN.search(url) or url.startswith("mailto:"):
        return False
    if len(url) > _URL_MAX_LENGTH:
        return False
    url = url.partition("#")[0].partition("?")[0]
    stripped = _strip_protocol(url)
    if stripped is None:
        return False
    url, had_protocol = stripped
    if url.startswith("//"):
        if not had_protocol:
            return False  # protocol-relative URLs are not allowed
        url = url[2:]
    if not url:
        return False
    hostname = url.partition("/")[0]
    pieces = hostname.split("@")
    if len(pieces) > 1:
        credentials = pieces[0].split(":")
        if not pieces[0] or len(credentials) > 2 or credentials == ["", ""]:
            return False
        hostname = "@".join(pieces[1:])
    ipv6: str | None = None
    port: str | None = None
    wrapped = _URL_WRAPPED_IPV6.fullmatch(hostname)
    if wrapped is not None:
        host = ""
        ipv6, port = wrapped.group(1), wrapped.group(2)
    else:
        host, colon, rest = hostname.partition(":")
        if colon:
            port = rest
    if port and (not _URL_PORT.fullmatch(port) or not 0 < int(port) <= 65535):
        return False
    return (
        _is_ip(host) or _is_fqdn(host) or (ipv6 is not None and _IPV6.fullmatch(ipv6) is not None)
    )
