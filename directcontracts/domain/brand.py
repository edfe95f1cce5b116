"""The shop's brand: its accent colour (and the text colour that stays readable on it) and the logo's limits.

Plain Python. The colour maths is WCAG 2.x's: relative luminance of sRGB, contrast ratio
(L1 + 0.05) / (L2 + 0.05). Text on the accent is black or white, whichever contrasts more; one of the
two always reaches at least 4.58:1, above AA's 4.5:1 for normal text, so every ``#rrggbb`` can be
accepted and no colour has to be refused.
"""
from __future__ import annotations

import re

#: What the owner types: ``#`` and six hex digits (``#1A5FD1`` is accepted and stored lower-case).
_HEX = re.compile(r"#[0-9a-fA-F]{6}")

#: The accent a shop without one gets (the app's own, app.css ``--accent``).
DEFAULT_ACCENT = "#1a5fd1"
WHITE, BLACK = "#ffffff", "#000000"
#: Links and outlined buttons on white when the accent itself is too light to read there (app.css ``--fg``).
DARK_INK = "#1d2430"
#: WCAG 2.x level AA for normal-size text.
AA_NORMAL_TEXT = 4.5

#: The logo: only these formats (never SVG: it can carry script), by what the bytes are, not by the name.
LOGO_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
LOGO_MAX_BYTES = 200 * 1024
LOGO_MIN_SIDE = 16
LOGO_MAX_SIDE = 2000
#: How tall the logo is shown (pages and emails), in CSS pixels; the width follows the image's proportions.
LOGO_SHOWN_HEIGHT = 40


class ColourError(ValueError):
    """Not a ``#rrggbb`` colour."""


def parse_colour(text: str) -> str:
    """``#rrggbb`` lower-cased; raises ColourError for anything else (names, ``#abc``, ``rgb()``...)."""
    text = (text or "").strip()
    if not _HEX.fullmatch(text):
        raise ColourError("Enter a colour as # and six hex digits, like #1a5fd1.")
    return text.lower()


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """WCAG relative luminance of ``#rrggbb`` (0 black .. 1 white)."""
    colour = parse_colour(colour)
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(one: str, other: str) -> float:
    """WCAG contrast ratio of two colours, from 1 (same) to 21 (black on white)."""
    a, b = sorted((luminance(one), luminance(other)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def text_on(accent: str) -> str:
    """The text colour for ``accent`` backgrounds: white or black, whichever contrasts more (always ≥ 4.5:1)."""
    return WHITE if contrast(accent, WHITE) >= contrast(accent, BLACK) else BLACK


def ink_on_white(accent: str) -> str:
    """The colour for links and outlined buttons on a white page: the accent when it keeps 4.5:1 on white,
    else a dark ink (a light yellow accent still colours the header and main buttons, not the text)."""
    return accent if contrast(accent, WHITE) >= AA_NORMAL_TEXT else DARK_INK


def logo_size_problem(width: int, height: int) -> str | None:
    """What is wrong with a logo of ``width`` × ``height`` pixels, or None when it may be used."""
    if min(width, height) < LOGO_MIN_SIDE or max(width, height) > LOGO_MAX_SIDE:
        return (f"The logo is {width} × {height} pixels: use one from {LOGO_MIN_SIDE} to "
                f"{LOGO_MAX_SIDE} pixels on each side.")
    return None


def shown_width(width: int, height: int) -> int:
    """The width, in CSS pixels, of a ``width`` × ``height`` logo shown ``LOGO_SHOWN_HEIGHT`` tall."""
    return max(1, round(width * LOGO_SHOWN_HEIGHT / height))
