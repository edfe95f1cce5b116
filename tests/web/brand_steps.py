"""Images made on the spot (Pillow) and the owner's brand steps, through HTTP as the owner does them."""
from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw

#: Every field of the settings form with a valid value; a test overrides what it is about.
SETTINGS = {"shop_name": "Northwind Studio", "fee_percent": "3.4", "min_amount": "5", "max_amount": "1000000",
            "auto_release_days": "14", "dispute_response_days": "7", "accent_colour": "#0b6e4f",
            "contact_email": "hello@northwind.example"}


def image(fmt: str = "PNG", size: tuple[int, int] = (120, 40), **save) -> bytes:
    """A small logo-like picture in ``fmt`` (PNG, JPEG, WEBP, GIF...)."""
    mode = "RGB" if fmt in ("JPEG", "GIF") else "RGBA"
    picture = Image.new(mode, size, (255, 255, 255) if mode == "RGB" else (0, 0, 0, 0))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 0, min(size) - 1, min(size) - 1), fill=(11, 110, 79))
    out = io.BytesIO()
    picture.save(out, fmt, **save)
    return out.getvalue()


def noisy_png(size: tuple[int, int] = (400, 400)) -> bytes:
    """A PNG that random pixels keep large (about 3 bytes a pixel whatever the compression)."""
    rng = random.Random(13)
    picture = Image.frombytes("RGB", size, bytes(rng.getrandbits(8) for _ in range(size[0] * size[1] * 3)))
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def upload_logo(c, data: bytes, filename: str = "logo.png", **kw):
    """The owner's "Upload the logo" (a multipart POST)."""
    return c.post("/admin/settings/logo", {"logo": (io.BytesIO(data), filename)},
                  content_type="multipart/form-data", **kw)


def save_settings(c, **fields):
    """The owner's "Save settings" with every field valid but ``fields``."""
    return c.post("/admin/settings", SETTINGS | fields)


def set_brand(c, logo: bytes | None = None, **fields) -> None:
    """Name, accent, contact (``SETTINGS`` but ``fields``) and a logo (a PNG unless given), as the owner."""
    r = save_settings(c, **fields)
    assert r.status_code == 303, r.text
    r = upload_logo(c, logo or image())
    assert r.status_code == 303, r.text
