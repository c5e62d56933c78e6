"""Text measured in UTF-16 units, as JavaScript (and so Auth0) counts it."""

from __future__ import annotations

from typing import Final

from hypothesis import strategies as st

from ._oracles import EXCLUDED, SURROGATES, Strategy, clip_utf16, utf16_len

#: Characters of generated text: any but surrogates and NUL, awkward ones drawn more often.
TEXT_CHARS: Final = st.one_of(
    st.characters(exclude_categories=SURROGATES, exclude_characters=EXCLUDED),
    st.sampled_from("\x01éß日😀İ\u200b\ufeff"),
)


def text_units(min_units: int, max_units: int, chars: Strategy[str] = TEXT_CHARS) -> Strategy[str]:
    """Text of ``min_units``..``max_units`` UTF-16 units, sometimes exactly ``max_units``."""
    plain = st.text(chars, min_size=min_units, max_size=max(min_units, min(max_units, 40))).map(
        lambda s: clip_utf16(s, max_units)
    )
    full = st.text(chars, min_size=1, max_size=8).map(
        lambda s: clip_utf16(s * (max_units // utf16_len(s) + 1), max_units)
    )
    return st.one_of(plain, full).filter(lambda s: utf16_len(s) >= min_units)


def long_text(over: int, chars: Strategy[str] = TEXT_CHARS) -> Strategy[str]:
    """Text longer than ``over`` UTF-16 units (``over + 1`` .. ``over + 60``)."""
    return st.tuples(st.text(chars, min_size=1, max_size=6), st.integers(1, 60)).map(
        lambda t: _repeat_to(t[0], over + t[1])
    )


def _repeat_to(piece: str, units: int) -> str:
    text = piece * (units // utf16_len(piece) + 1)
    clipped = clip_utf16(text, units)
    return clipped if utf16_len(clipped) == units else clipped + "x"


def insert(draw: st.DrawFn, text: str, piece: str) -> str:
    at = draw(st.integers(0, len(text)))
    return text[:at] + piece + text[at:]
