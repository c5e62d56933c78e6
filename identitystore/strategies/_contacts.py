"""Emails and phone numbers Auth0 accepts."""

from __future__ import annotations

import string
from functools import cache
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ._oracles import Strategy

_LOCAL_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~"
ATOM = st.text(st.sampled_from(_LOCAL_CHARS + "éü端"), min_size=1, max_size=12)
LOCAL = st.lists(ATOM, min_size=1, max_size=3).map(".".join).filter(lambda s: len(s.encode()) <= 64)
_LOCAL_EDGES = st.sampled_from(["a", "x" * 64, "a.b-c+tag", "o'brien", "#!$%&'*+-/=?^_`{}|~"])
LABEL = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,14}[A-Za-z0-9])?", fullmatch=True)
_TLD = st.from_regex(r"[A-Za-z]{2,8}", fullmatch=True)
HOST = st.builds(
    lambda labels, tld: ".".join([*labels, tld]), st.lists(LABEL, min_size=1, max_size=3), _TLD
)
_HOST_EDGES = st.sampled_from(["a.co", "x-y.example", "xn--bcher-kva.example", "a" * 63 + ".io"])


def emails() -> Strategy[str]:
    """Email addresses Auth0 accepts (validator.js ``isEmail`` with a TLD), RFC edges included.

    Mixed case, sometimes a non-ASCII local part, a 64-byte local part, the special characters RFC
    5322 allows unquoted, one-letter labels, 63-letter labels and punycode domains.
    """
    return st.builds(
        lambda local, host: f"{local}@{host}", LOCAL | _LOCAL_EDGES, HOST | _HOST_EDGES
    )


PATTERN_PHONES = st.text(st.sampled_from(string.digits), min_size=1, max_size=15).map("+".__add__)


def _phonenumbers() -> Any:
    try:
        import phonenumbers
    except ImportError as exc:  # pragma: no cover - a dependency of identitystore
        raise InvalidArgument("phone_numbers(region=...) needs the phonenumbers package") from exc
    return phonenumbers


@cache
def _examples(region: str) -> tuple[str, ...]:
    """phonenumbers' example numbers of every type for ``region``, in E.164."""
    pn = _phonenumbers()
    found = []
    for kind in range(11):  # PhoneNumberType values but UNKNOWN
        number = pn.example_number_for_type(region, kind)
        if number is not None:
            found.append(pn.format_number(number, pn.PhoneNumberFormat.E164))
    return tuple(dict.fromkeys(found))


def _is_real(number: str, region: str | None) -> bool:
    pn = _phonenumbers()
    try:
        parsed = pn.parse(number, None)
    except pn.NumberParseException:
        return False
    if not pn.is_valid_number(parsed):
        return False
    return region is None or pn.region_code_for_number(parsed) == region


def _real_phones(region: str | None) -> Strategy[str]:
    regions = (
        st.just(region)
        if region is not None
        else st.sampled_from(sorted(_phonenumbers().SUPPORTED_REGIONS))
    )

    @st.composite
    def numbers(draw: st.DrawFn) -> str:
        where = draw(regions)
        examples = _examples(where)
        assume(examples)
        example = draw(st.sampled_from(examples))
        keep = len(example) - draw(st.integers(0, 3))
        size = len(example) - keep
        number = example[:keep] + draw(
            st.text(st.sampled_from(string.digits), min_size=size, max_size=size)
        )
        assume(_is_real(number, where))
        return number

    return numbers()


def phone_numbers(*, region: str | None = None, real: bool = False) -> Strategy[str]:
    """Phone numbers in E.164 (``+`` and up to 15 digits).

    Args:
        region: an ISO 3166 region (``"GB"``): only valid numbers of that region, built from
            ``phonenumbers``' metadata.
        real: only numbers ``phonenumbers`` says are valid (needed by a connection with
            ``phone_number_validation: "valid"``). Otherwise Auth0's plain pattern
            ``^\\+[0-9]{1,15}$`` is generated too.

    Raises:
        InvalidArgument: ``region`` is not one ``phonenumbers`` knows.
    """
    if region is not None:
        if region not in _phonenumbers().SUPPORTED_REGIONS:
            raise InvalidArgument(f"region={region!r} is not a region phonenumbers knows")
        return _real_phones(region)
    if real:
        return _real_phones(None)
    return st.one_of(PATTERN_PHONES, _real_phones(None))
