"""The shop's brand as clients see it: its name, logo, accent colour and contact email (owner only changes it).

The logo is checked by what its bytes are, never by the file's name or the browser's Content-Type:
Pillow must identify it as PNG, JPEG or WebP (SVG and everything else is refused), its size and pixel
dimensions must be within ``domain.brand``'s limits (read from the header, before any decoding), and it
must decode completely. What is stored and served is a fresh encoding of the first frame in the same
format: metadata (EXIF, a camera's location) and anything appended to the image are not kept.

It is kept in the database (``ShopSettings.logo``), not under ``instance/``: several app processes on
several machines share the database but not a folder, ``flask backup`` then carries it, and no file
name is ever built from input.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from ..domain import brand as rules
from ..extensions import db
from ..models import ShopSettings
from . import memo
from .errors import ValidationFailed


@dataclass(frozen=True)
class Brand:
    """What the templates show: always a name; the rest only when the owner set it."""

    name: str
    accent: str | None  # ``#rrggbb``; None: the app's own colours
    contact_email: str | None
    logo_version: str | None  # None: no logo
    logo_width: int = 0  # as shown, in CSS pixels (``LOGO_SHOWN_HEIGHT`` tall)
    logo_height: int = rules.LOGO_SHOWN_HEIGHT

    @property
    def on_accent(self) -> str:
        """Text colour on the accent (white or black, at least 4.5:1)."""
        return rules.text_on(self.accent or rules.DEFAULT_ACCENT)

    @property
    def ink(self) -> str:
        """Links and outlined buttons on white: the accent, or a dark ink when the accent is too light there."""
        return rules.ink_on_white(self.accent_or_default)

    @property
    def accent_or_default(self) -> str:
        return self.accent or rules.DEFAULT_ACCENT

    @property
    def theme_version(self) -> str:
        """Changes with the colours: the stylesheet's ``?v=``."""
        return hashlib.sha256(f"{self.accent_or_default}{self.on_accent}{self.ink}".encode()).hexdigest()[:12]

    def contact_for(self, member) -> str | None:
        """The address a client writes to: the shop's, or else the freelancer's own (``member`` may be None)."""
        return self.contact_email or (member.email if member is not None else None)


def _brand_of(s: ShopSettings) -> Brand:
    width = rules.shown_width(s.logo_width, s.logo_height) if s.logo_version else 0
    return Brand(name=s.shop_name, accent=s.accent_colour, contact_email=s.contact_email,
                 logo_version=s.logo_version, logo_width=width)


@memo.per_request
def current() -> Brand:
    """The shop's brand, read once a request (every page and email shows it)."""
    return _brand_of(ShopSettings.get())


def theme_css(b: Brand) -> str:
    """The stylesheet that carries the accent as CSS custom properties: ``--brand`` (backgrounds), ``--on-brand``
    (text on it) and ``--brand-ink`` (links and outlined buttons on white)."""
    return f":root {{ --brand: {b.accent_or_default}; --on-brand: {b.on_accent}; --brand-ink: {b.ink}; }}\n"


def _refuse(message: str):
    raise ValidationFailed({"logo": message})


def checked_logo(data: bytes) -> tuple[bytes, str, int, int]:
    """``data`` re-encoded, its Content-Type, width and height; raises ValidationFailed on ``logo``."""
    if not data:
        _refuse("Choose a PNG, JPEG or WebP image to upload.")
    if len(data) > rules.LOGO_MAX_BYTES:
        _refuse(f"The logo is {len(data) / 1024:,.0f} KB: keep it under {rules.LOGO_MAX_BYTES // 1024} KB.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(rules.LOGO_FORMATS))
        except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError, OSError,
                ValueError, SyntaxError):
            _refuse("This file is not a PNG, JPEG or WebP image (SVG and other formats cannot be used).")
        with image:
            kind = image.format
            if problem := rules.logo_size_problem(*image.size):
                _refuse(problem)
            try:
                image.load()  # decode every pixel: a damaged or truncated file stops here
                out = io.BytesIO()
                _encode(image, kind, out)
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning):
                _refuse("This image could not be read to the end: it may be damaged. Export it again and retry.")
            return out.getvalue(), rules.LOGO_FORMATS[kind], image.width, image.height


def _encode(image: Image.Image, kind: str, out: io.BytesIO) -> None:
    """A fresh file of the first frame, in the upload's format, with no metadata."""
    if kind == "JPEG":
        image.convert("RGB").save(out, "JPEG", quality=90, optimize=True)
    elif kind == "PNG":
        if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
            image = image.convert("RGBA")
        image.save(out, "PNG", optimize=True)
    else:
        image = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P", "PA") else "RGB")
        image.save(out, "WEBP", quality=90)


def save_logo(data: bytes) -> ShopSettings:
    """Check and store the shop's logo (replacing any); owner only (the view checks). Raises ValidationFailed."""
    encoded, content_type, width, height = checked_logo(data)
    s = ShopSettings.get()
    s.logo, s.logo_type, s.logo_width, s.logo_height = encoded, content_type, width, height
    s.logo_version = hashlib.sha256(encoded).hexdigest()[:12]
    db.session.commit()
    return s


def remove_logo() -> ShopSettings:
    """Remove the shop's logo (pages and emails then show the name alone); owner only (the view checks)."""
    s = ShopSettings.get()
    s.logo = s.logo_type = s.logo_version = s.logo_width = s.logo_height = None
    db.session.commit()
    return s


def logo() -> tuple[bytes, str, str] | None:
    """The stored logo's bytes, Content-Type and version, or None when the shop has none."""
    s = ShopSettings.get()
    if s.logo_version is None or s.logo is None:
        return None
    return s.logo, s.logo_type, s.logo_version
