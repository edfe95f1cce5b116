"""The shop's brand (issue 13): the owner sets a logo, an accent colour and a contact email; clients see the shop,
its freelancer and whom to write to on every page and in every email."""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from directcontracts.models import OutboxEmail, ShopSettings
from tests.conftest import Client
from tests.web.brand_steps import SETTINGS, image, noisy_png, save_settings, set_brand, upload_logo
from tests.web.builders import funded_contract, sent_contract

LOGO_SRC = re.compile(r'<img class="logo" src="(/brand/logo\?v=([0-9a-f]{12}))"')


@pytest.fixture
def shop(app, db, make_member, login_as):
    """Olga (the owner, logged in) and Fran (a member, logged in), each in a browser of their own."""
    olga = make_member("olga@shop.example", "Olga Owner", owner=True)
    fran = make_member("fran@example.com", "Fran Freelancer", owner=False)
    return {"owner": login_as(olga, Client(app.test_client())), "fran": login_as(fran, Client(app.test_client())),
            "anon": Client(app.test_client())}


def saved(db) -> ShopSettings:
    """The settings as stored now (the row is made with the defaults if nothing was ever saved)."""
    db.session.expire_all()
    return ShopSettings.get()


def field_error(html: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', html)
    assert match, f"no error shown beside {field}"
    return match.group(1)


# ---- the logo -----------------------------------------------------------------------------------------------


def test_the_owner_uploads_a_png_logo_and_anyone_can_load_it(shop, db):
    owner = shop["owner"]
    r = upload_logo(owner, image("PNG", (300, 100)))
    assert r.status_code == 303 and r.location.endswith("/admin/settings#brand")
    page = owner.get("/admin/settings")
    assert "Logo saved" in page.text and 'alt="Your current logo"' in page.text
    s = saved(db)
    assert (s.logo_type, s.logo_width, s.logo_height) == ("image/png", 300, 100)
    url = f"/brand/logo?v={s.logo_version}"
    assert url in page.text

    got = shop["anon"].get(url)  # a client has no account: the logo is public
    assert got.status_code == 200
    assert got.headers["Content-Type"] == "image/png"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert Image.open(io.BytesIO(got.data)).size == (300, 100)
    # a signed-in member's request keeps the caching (no no-store), and a revalidation is a 304
    assert owner.get(url).headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert shop["anon"].get(url, headers={"If-None-Match": f'"{s.logo_version}"'}).status_code == 304
    # an old or missing version: the current logo, revalidated each time (an old email still shows a logo)
    assert shop["anon"].get("/brand/logo?v=000000000000").headers["Cache-Control"] == "no-cache"
    assert shop["anon"].get("/brand/logo").status_code == 200


@pytest.mark.parametrize("fmt, content_type", [("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_jpeg_and_webp_logos_are_accepted(shop, db, fmt, content_type):
    assert upload_logo(shop["owner"], image(fmt), f"logo.{fmt.lower()}").status_code == 303
    s = saved(db)
    got = shop["anon"].get(f"/brand/logo?v={s.logo_version}")
    assert got.headers["Content-Type"] == content_type
    assert Image.open(io.BytesIO(got.data)).format == fmt


def test_the_stored_logo_is_a_fresh_encoding_without_metadata(shop, db):
    picture = Image.open(io.BytesIO(image("JPEG")))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    with_exif = io.BytesIO()
    picture.save(with_exif, "JPEG", exif=exif.tobytes())
    data = with_exif.getvalue() + b"<script>alert(1)</script>"  # trailing bytes after the image
    assert b"SecretCam" in data
    assert upload_logo(shop["owner"], data, "logo.jpg").status_code == 303
    served = shop["anon"].get(f"/brand/logo?v={saved(db).logo_version}").data
    assert b"SecretCam" not in served and b"<script>" not in served
    assert Image.open(io.BytesIO(served)).format == "JPEG"


def test_a_logo_over_200_kb_is_refused_with_the_reason(shop, db):
    big = noisy_png()
    assert len(big) > 200 * 1024
    r = upload_logo(shop["owner"], big)
    assert r.status_code == 422
    assert field_error(r.text, "logo") == f"The logo is {len(big) / 1024:,.0f} KB: keep it under 200 KB."
    assert saved(db).logo_version is None
    assert 'name="shop_name"' in r.text and 'value="Direct Contracts"' in r.text  # the page around it is whole


@pytest.mark.parametrize("data, filename, reason", [
    (image("GIF"), "logo.gif", "not a PNG, JPEG or WebP image"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "logo.svg",
     "not a PNG, JPEG or WebP image"),
    (b"<html><script>alert(document.cookie)</script></html>", "logo.png", "not a PNG, JPEG or WebP image"),
    (b"%PDF-1.4 not a picture at all", "logo.png", "not a PNG, JPEG or WebP image"),
    (image("PNG")[:60], "logo.png", "could not be read to the end"),  # a PNG cut short
    (image("PNG", (2400, 20)), "logo.png", "2400 × 20 pixels"),
    (image("PNG", (10, 10)), "logo.png", "10 × 10 pixels"),
    (b"", "logo.png", "Choose a PNG, JPEG or WebP image"),
], ids=["gif", "svg", "html-named-png", "pdf-named-png", "truncated-png", "too-wide", "too-small", "empty"])
def test_what_is_not_a_usable_image_is_refused_whatever_its_name(shop, db, data, filename, reason):
    r = upload_logo(shop["owner"], data, filename)
    assert r.status_code == 422, r.text
    assert reason in field_error(r.text, "logo")
    assert saved(db).logo_version is None


def test_no_file_chosen_is_explained(shop, db):
    r = shop["owner"].post("/admin/settings/logo", {}, content_type="multipart/form-data")
    assert r.status_code == 422
    assert "Choose a PNG, JPEG or WebP image" in field_error(r.text, "logo")


def test_the_owner_removes_the_logo(shop, db, outbox, make_member):
    owner = shop["owner"]
    set_brand(owner)
    version = saved(db).logo_version
    cid, link = sent_contract(shop["fran"], outbox)
    assert LOGO_SRC.search(shop["anon"].get(link).text)
    r = owner.post("/admin/settings/logo/remove")
    assert r.status_code == 303
    assert "Logo removed." in owner.get("/admin/settings").text
    assert saved(db).logo_version is None and saved(db).logo is None
    assert shop["anon"].get(f"/brand/logo?v={version}").status_code == 404
    page = shop["anon"].get(link).text
    assert "<img" not in page and "Northwind Studio" in page  # the name alone, no broken image


def test_a_member_who_is_not_the_owner_cannot_change_the_brand(shop, db):
    fran = shop["fran"]
    assert fran.get("/admin/settings").status_code == 404
    assert upload_logo(fran, image()).status_code == 404
    assert save_settings(fran, shop_name="Fran's Takeover", accent_colour="#ff0000").status_code == 404
    set_brand(shop["owner"])
    assert fran.post("/admin/settings/logo/remove").status_code == 404
    s = saved(db)
    assert (s.shop_name, s.accent_colour) == ("Northwind Studio", "#0b6e4f") and s.logo_version is not None
    # nobody logged in: to the login page, nothing changed
    assert upload_logo(shop["anon"], image("PNG", (50, 50))).status_code == 302
    assert saved(db).logo_width == 120


def test_brand_changes_need_the_csrf_token(shop, db):
    owner = shop["owner"]
    r = owner.post("/admin/settings/logo", {"logo": (io.BytesIO(image()), "logo.png")}, csrf=False,
                   content_type="multipart/form-data")
    assert r.status_code == 400
    assert save_settings(owner).status_code == 303 and upload_logo(owner, image()).status_code == 303
    assert owner.post("/admin/settings/logo/remove", csrf=False).status_code == 400
    assert owner.post("/admin/settings", SETTINGS | {"accent_colour": "#000000"}, csrf=False).status_code == 400
    s = saved(db)
    assert s.logo_version is not None and s.accent_colour == "#0b6e4f"


# ---- accent colour and contact email --------------------------------------------------------------------------


@pytest.mark.parametrize("typed, stored, text, ink", [("#FFEE00", "#ffee00", "#000000", "#1d2430"),
                                                      ("#0b6e4f", "#0b6e4f", "#ffffff", "#0b6e4f")])
def test_the_accent_is_served_as_css_custom_properties_with_readable_text(shop, db, typed, stored, text, ink):
    assert save_settings(shop["owner"], accent_colour=typed).status_code == 303
    assert saved(db).accent_colour == stored
    page = shop["owner"].get("/admin/settings").text
    href = re.search(r'<link rel="stylesheet" href="(/brand/theme\.css\?v=[0-9a-f]{12})">', page).group(1)
    css = shop["anon"].get(href)
    assert css.headers["Content-Type"] == "text/css; charset=utf-8"
    assert css.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert css.text == f":root {{ --brand: {stored}; --on-brand: {text}; --brand-ink: {ink}; }}\n"
    assert f'value="{stored}"' in page


@pytest.mark.parametrize("typed", ["red", "#abc", "#12345g", "#0b6e4f;}body{display:none"])
def test_a_colour_that_is_not_hash_and_six_hex_digits_is_refused(shop, db, typed):
    r = save_settings(shop["owner"], accent_colour=typed)
    assert r.status_code == 422
    assert field_error(r.text, "accent_colour") == "Enter a colour as # and six hex digits, like #1a5fd1."
    assert saved(db).accent_colour is None and saved(db).shop_name == "Direct Contracts"


def test_the_contact_email_is_validated_and_both_can_be_cleared(shop, db):
    r = save_settings(shop["owner"], contact_email="hello at northwind")
    assert r.status_code == 422 and "@" in field_error(r.text, "contact_email")
    assert save_settings(shop["owner"], contact_email="Hello@Northwind.EXAMPLE").status_code == 303
    assert saved(db).contact_email == "Hello@northwind.example"
    assert save_settings(shop["owner"], contact_email="", accent_colour="").status_code == 303
    assert (saved(db).contact_email, saved(db).accent_colour) == (None, None)


# ---- what the client sees -------------------------------------------------------------------------------------


def test_the_client_page_shows_the_shop_the_freelancer_and_the_contact(shop, db, outbox):
    set_brand(shop["owner"])
    cid, link = sent_contract(shop["fran"], outbox)
    page = shop["anon"].get(link).text
    header = page[page.index('<header class="site">'):page.index("</header>")]
    assert "Northwind Studio" in header
    src, version = LOGO_SRC.search(header).groups()
    assert version == saved(db).logo_version and 'width="120" height="40"' in header
    assert re.search(r'<link rel="stylesheet" href="/brand/theme\.css\?v=[0-9a-f]{12}">', page)
    assert '<body class="client"' in page
    footer = page[page.index('<footer class="site"'):]
    assert ("Sent by Fran Freelancer · Northwind Studio · contact "
            '<a href="mailto:hello@northwind.example">hello@northwind.example</a>') in footer
    assert "Direct Contracts" not in page
    assert 'style="' not in page  # the CSP allows no inline style: the accent comes from the stylesheet


def test_every_client_page_of_a_funded_contract_carries_the_brand(shop, db, outbox):
    set_brand(shop["owner"])
    visitor = Client(shop["anon"].http.application.test_client())
    cid, link = funded_contract(shop["fran"], visitor, outbox)
    for path in (link, f"{link}/fund", f"{link}/verify", "/c", "/c/not-a-real-token-at-all-0000000000000"):
        page = visitor.get(path).text
        assert "Northwind Studio" in page and "hello@northwind.example" in page, path
        assert "Direct Contracts" not in page, path


def test_with_no_brand_the_client_sees_the_default_name_and_the_freelancers_address(shop, db, outbox):
    cid, link = sent_contract(shop["fran"], outbox)
    page = shop["anon"].get(link).text
    assert "<img" not in page and "/brand/theme.css" not in page
    assert ('Sent by Fran Freelancer · Direct Contracts · contact '
            '<a href="mailto:fran@example.com">fran@example.com</a>') in page
    email = outbox()[-1]
    assert "<img" not in email.body_html
    assert email.body_text.rstrip().endswith("Sent by Fran Freelancer · Direct Contracts · contact fran@example.com")


def test_the_proposal_email_shows_the_shop_logo_freelancer_and_contact(shop, db, outbox):
    set_brand(shop["owner"])
    sent_contract(shop["fran"], outbox)
    email = outbox()[-1]
    assert email.to_addr == "carla@client-co.com"
    version = saved(db).logo_version
    assert email.body_text.startswith("Northwind Studio\n\nHello Carla Client,")
    assert email.body_text.rstrip().endswith(
        "Sent by Fran Freelancer · Northwind Studio · contact hello@northwind.example")
    html = email.body_html
    assert f'<img src="http://localhost/brand/logo?v={version}"' in html
    assert 'bgcolor="#0b6e4f"' in html and "color:#ffffff" in html  # white text on the dark green
    assert "Northwind Studio</strong>" in html
    assert "Sent by Fran Freelancer · Northwind Studio · contact" in html
    assert '<a href="mailto:hello@northwind.example">' in html
    assert "<p>Hello Carla Client,</p>" in html  # the message itself, not escaped


def test_every_email_of_a_contract_shows_the_shop_not_the_product(shop, db, outbox):
    set_brand(shop["owner"], accent_colour="#ffee00")
    visitor = Client(shop["anon"].http.application.test_client())
    funded_contract(shop["fran"], visitor, outbox)
    emails = outbox()
    assert len({e.subject for e in emails}) >= 3
    for email in emails:
        assert email.body_text.startswith("Northwind Studio\n"), email.subject
        assert "Northwind Studio" in email.body_html and "color:#000000" in email.body_html, email.subject
        assert "Direct Contracts" not in email.body_text + email.body_html, email.subject
    to_client = [e for e in emails if e.to_addr == "carla@client-co.com"]
    assert to_client and all("Sent by Fran Freelancer" in e.body_text for e in to_client)


def test_the_dev_inbox_shows_the_logo_under_its_csp(shop, db, outbox):
    """The local inbox shows emails as sent: the logo is a same-origin image, which its policy allows."""
    set_brand(shop["owner"])
    sent_contract(shop["fran"], outbox)
    email_id = db.session.scalar(db.select(OutboxEmail.id).order_by(OutboxEmail.id.desc()))
    r = shop["fran"].get(f"/dev/inbox/{email_id}")
    assert r.status_code == 200 and "/brand/logo?v=" in r.text
    assert "img-src 'self'" in r.headers["Content-Security-Policy"]


def test_members_see_the_shops_name_in_their_header(shop, db):
    header = re.compile(r'<a class="brand" href="/">([^<]*)</a>')
    assert header.search(shop["fran"].get("/contracts").text).group(1) == "Direct Contracts"  # the default name
    save_settings(shop["owner"], shop_name="Northwind Studio")
    for c in (shop["fran"], shop["owner"]):
        assert header.search(c.get("/contracts").text).group(1) == "Northwind Studio"
