"""Amounts typed and shown in the member's locale; dates and times in the reader's zone (issue 13, items 4 and 5).

Through HTTP as the member and the client see it, with the database holding minor units whatever was typed.
"""
from __future__ import annotations

import re

from directcontracts.domain.locales import Display
from directcontracts.models import Dispute, Member, ShopSettings

from .builders import (
    add_milestone, contract, create_draft, funded_contract, link_in, request_payment, save_terms,
)


def choose(client, time_zone="", locale="", expect=303):
    """The member's own time zone and locale, through their account page."""
    r = client.post("/account", {"time_zone": time_zone, "locale": locale})
    assert r.status_code == expect, r.text
    return r


def shop_zone(client, time_zone, locale="en_US", expect=303):
    """The owner sets the shop's time zone and locale (the rest of the settings as they are)."""
    r = client.post("/admin/settings", {"shop_name": "Shop", "fee_percent": "3.4", "min_amount": "5",
                                        "max_amount": "1000000", "auto_release_days": "14",
                                        "dispute_response_days": "7", "time_zone": time_zone, "locale": locale})
    assert r.status_code == expect, r.text
    return r


def test_a_german_member_types_amounts_the_german_way(logged_in, db):
    choose(logged_in, "Europe/Berlin", "de_DE")
    cid = create_draft(logged_in)
    save_terms(logged_in, cid, currency="EUR", kind="single", amount="1.234,50")
    assert [m.amount_minor for m in contract(db, cid).milestones] == [123450]
    page = logged_in.get(f"/contracts/{cid}/terms").text
    assert "1.234,50\xa0€" in page  # the live total, as a German reads it
    assert 'value="1234.50"' in page  # the field keeps the plain form, which is always accepted
    assert "Type it as 1.234,50, or 1234.50." in page
    save_terms(logged_in, cid, currency="EUR", kind="single", amount="1234.50")  # the plain form, unchanged
    assert [m.amount_minor for m in contract(db, cid).milestones] == [123450]


def test_milestones_in_german_and_the_ambiguous_one_is_explained(logged_in, db):
    choose(logged_in, locale="de_DE")
    cid = create_draft(logged_in)
    save_terms(logged_in, cid, currency="EUR")
    row = add_milestone(logged_in, cid, "Design", "2.000,75")
    assert "2.000,75\xa0€" in row.text
    bad = add_milestone(logged_in, cid, "Build", "1,500", expect=422)
    assert f'id="new-amount-error"' in bad.text and "“1,500” is ambiguous" in bad.text
    assert "Type 1500, or 1.500,00 with the decimals." in bad.text
    assert 'value="1,500"' in bad.text  # what was typed stays in the field
    assert [m.amount_minor for m in contract(db, cid).milestones] == [200075]


def test_an_english_member_types_the_english_way_and_german_is_refused(logged_in, db):
    cid = create_draft(logged_in)
    save_terms(logged_in, cid, kind="single", amount="1,234.50")
    assert [m.amount_minor for m in contract(db, cid).milestones] == [123450]
    r = save_terms(logged_in, cid, kind="single", amount="1.234,50", expect=422)
    assert 'id="amount-error"' in r.text and "Enter the amount as a number, like 1,234.50 or 1234.50." in r.text
    assert "Type it as" not in r.text  # no hint where the locale writes amounts the English way


def test_kwd_takes_three_decimals_and_no_more(logged_in, db):
    cid = create_draft(logged_in)
    save_terms(logged_in, cid, currency="KWD", kind="single", amount="12.345")
    assert [m.amount_minor for m in contract(db, cid).milestones] == [12345]
    r = save_terms(logged_in, cid, currency="KWD", kind="single", amount="12.3456", expect=422)
    assert "KWD amounts have at most 3 decimals." in r.text


def test_the_preview_shows_why_instead_of_a_zero_total(logged_in, db):
    choose(logged_in, locale="de_DE")
    cid = create_draft(logged_in)
    save_terms(logged_in, cid, currency="EUR")
    good = logged_in.post(f"/contracts/{cid}/terms/preview", {"amount": "1.000,00", "currency": "EUR"}, htmx=True)
    assert good.status_code == 200 and 'data-testid="total">1.000,00\xa0€<' in good.text
    assert 'data-testid="preview-refusal"' not in good.text
    for typed, why in (("abc", "Enter the amount as a number, like 1.234,50 or 1234.50."),
                       ("1,234", "“1,234” is ambiguous"),
                       ("10,5051", "EUR amounts have at most 2 decimals."),
                       ("1,50", "The minimum is 5,00\xa0€.")):
        r = logged_in.post(f"/contracts/{cid}/terms/preview", {"amount": typed, "currency": "EUR"}, htmx=True)
        assert r.status_code == 200 and "<html" not in r.text and 'id="milestone-summary"' in r.text
        refusal = re.search(r'data-testid="preview-refusal">([^<]+)<', r.text).group(1)
        assert why in refusal, (typed, refusal)
        assert 'data-testid="total"' not in r.text and "0,00" not in r.text, typed  # no silent zero


def test_a_member_in_new_york_sees_times_in_new_york(logged_in, member, db):
    choose(logged_in, "America/New_York", "en_US")
    cid = create_draft(logged_in)
    at = contract(db, cid).last_activity_at
    listing = logged_in.get("/contracts").text
    new_york = Display("America/New_York").when(at, "short")
    assert new_york in listing and new_york.endswith(("EST", "EDT"))
    assert Display().when(at, "short") not in listing  # not the UTC time
    db.session.expire_all()
    assert db.session.get(Member, member.id).time_zone == "America/New_York"
    # back to the shop's: empty choices
    choose(logged_in)
    db.session.expire_all()
    saved = db.session.get(Member, member.id)
    assert (saved.time_zone, saved.locale) == (None, None)
    assert Display().when(at, "short") in logged_in.get("/contracts").text


def test_the_client_sees_the_shops_zone_named(logged_in, visitor, outbox, db):
    shop_zone(logged_in, "Asia/Tokyo", "en_GB")
    choose(logged_in, "America/New_York")  # the member's own zone is not the client's
    db.session.expire_all()
    assert db.session.get(ShopSettings, 1).time_zone == "Asia/Tokyo"
    cid, link = funded_contract(logged_in, visitor, outbox)
    page = visitor.get(link).text
    assert re.search(r"\d{1,2}:\d\d JST", page), "the client's page names the shop's zone"
    assert " EST" not in page and " EDT" not in page and " UTC" not in page
    assert "US$1,000.00" in page  # amounts as the shop's locale (en_GB) writes US dollars


def test_an_email_to_the_client_names_the_shops_zone(logged_in, visitor, outbox, db):
    shop_zone(logged_in, "Europe/Paris", "fr_FR")
    choose(logged_in, "America/New_York", "en_US")
    cid, link = funded_contract(logged_in, visitor, outbox)
    mid = contract(db, cid).milestones[0].id
    request_payment(logged_in, cid, mid)
    to_client = [e for e in outbox() if e.to_addr == contract(db, cid).client_email][-1]
    m = contract(db, cid).milestones[0]
    paris = Display("Europe/Paris", "fr_FR").when(m.auto_release_at)
    assert paris.endswith((" CET", " CEST"))
    assert paris in to_client.body_text and paris in to_client.body_html
    assert "1\u202f000,00\xa0$US" in to_client.body_text  # amounts in the shop's locale too
    assert link_in(to_client.body_text)


def test_an_email_to_a_member_is_in_the_members_zone(logged_in, visitor, outbox, db, member):
    shop_zone(logged_in, "Europe/Paris")
    choose(logged_in, "America/New_York", "en_US")
    cid, link = funded_contract(logged_in, visitor, outbox)
    m = contract(db, cid).milestones[0]
    r = visitor.post(f"{link}/milestones/{m.id}/dispute",
                     {"reason": "not_as_agreed", "statement": "The pages are not what we agreed."})
    assert r.status_code == 303, r.text
    dispute = db.session.scalars(db.select(Dispute).where(Dispute.milestone_id == m.id)).one()
    new_york = Display("America/New_York").when(dispute.respond_by)
    assert new_york.endswith((" EST", " EDT"))
    to_member = [e for e in outbox() if e.to_addr == member.email and "Dispute opened" in e.subject][-1]
    assert new_york in to_member.body_text and new_york in to_member.body_html
    assert " CET" not in to_member.body_text and " UTC" not in to_member.body_text


def test_the_account_form_refuses_a_zone_or_locale_not_on_the_lists(logged_in, member, db):
    page = logged_in.get("/account")
    assert page.status_code == 200 and '<label for="time_zone">' in page.text and '<label for="locale">' in page.text
    assert '<option value="America/New_York">' in page.text and "Deutsch (Deutschland) — German (Germany)" in page.text
    r = choose(logged_in, "Mars/Olympus_Mons", "tlh_KX", expect=422)
    assert 'id="time_zone-error"' in r.text and "“Mars/Olympus_Mons” is not a time zone." in r.text
    assert 'id="locale-error"' in r.text and "Choose one of the listed languages and regions." in r.text
    assert 'aria-invalid="true" aria-describedby="time_zone-error"' in r.text
    db.session.expire_all()
    assert db.session.get(Member, member.id).time_zone is None


def test_the_owner_sets_the_shops_zone_and_a_bad_one_is_refused(logged_in, db):
    page = logged_in.get("/admin/settings").text
    assert "<legend>Time zone and language</legend>" in page and '<option value="UTC" selected>' in page
    r = shop_zone(logged_in, "Nowhere/Land", "en_US", expect=422)
    assert "“Nowhere/Land” is not a time zone." in r.text
    r = shop_zone(logged_in, "", "en_US", expect=422)
    assert "Choose a time zone." in r.text
    shop_zone(logged_in, "Europe/Madrid", "es_ES")
    db.session.expire_all()
    s = db.session.get(ShopSettings, 1)
    assert (s.time_zone, s.locale) == ("Europe/Madrid", "es_ES")
    # a settings form without the fields (an older page) leaves them as they are
    r = logged_in.post("/admin/settings", {"shop_name": "Shop", "fee_percent": "3.4", "min_amount": "5",
                                           "max_amount": "1000000", "auto_release_days": "14"})
    assert r.status_code == 303
    db.session.expire_all()
    assert db.session.get(ShopSettings, 1).time_zone == "Europe/Madrid"
