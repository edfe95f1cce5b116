"""The signed agreement, printable (issue 13, item 6): both parties see the terms as signed, the signature and
the money so far; nobody else does; before signing the page says so."""
from __future__ import annotations

import html
import re

from directcontracts.domain.money import Money
from directcontracts.models import Acceptance, Milestone
from directcontracts.services import ledger
from tests.conftest import Client
from tests.web.builders import add_milestone, contract, fund, funded_contract, revise, send_revision, sent_contract, verify
from tests.web.money_steps import AMOUNTS, every_way


def text_of(page: str) -> str:
    """The page's <main> (or a piece of a page) as a person reads it: tags gone, entities decoded, spaces
    collapsed."""
    main = page.split("<main", 1)[-1]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", main)).split())


def milestone_ids(db, cid) -> list[int]:
    return [m.id for m in sorted(contract(db, cid).milestones, key=lambda m: m.position)]


def test_both_parties_see_the_terms_as_signed_and_the_signature(app, db, logged_in, visitor, outbox):
    cid, link = funded_contract(logged_in, visitor, outbox, choice="first")
    signature = db.session.scalar(db.select(Acceptance))

    client_page = visitor.get(f"{link}/agreement")
    member_page = logged_in.get(f"/contracts/{cid}/agreement")
    for page in (client_page, member_page):
        assert page.status_code == 200
        text = text_of(page.text)
        assert "Website redesign" in text and "revision 1" in text
        assert "Signed by (typed name) Carla Client" in text
        assert f"IP address {signature.ip_address}" in text and signature.ip_address
        assert signature.user_agent and html.escape(signature.user_agent) in page.text
        assert signature.accepted_at.strftime("%Y") in text and "UTC" in text  # the ``when`` filter's format
        assert "Milestone 1 $1,000.00" in text and "Milestone 3 $500.00" in text
        assert "Total: $3,500.00" in text
        assert "The client pays exactly the amounts above; no fee is added for the client." in text
        assert "Print or save as PDF" in page.text  # the button (shown by static/print.js)
        assert 'src="/static/print.js' in page.text
    # the rate is the freelancer's business: their copy names it, the client's says who pays
    assert "Fran Freelancer pays a processing fee of 3.4% of what is released to them." in text_of(member_page.text)
    assert "Fran Freelancer pays the processing fee, out of what is released to them." in text_of(client_page.text)
    assert "3.4%" not in text_of(client_page.text)
    # the contract pages link to it once signed
    assert f'href="{link}/agreement"' in visitor.get(link).text
    assert f'href="/contracts/{cid}/agreement"' in logged_in.get(f"/contracts/{cid}").text


def test_changes_made_while_the_contract_runs_do_not_rewrite_the_signed_terms(app, db, logged_in, visitor, outbox):
    cid, link = funded_contract(logged_in, visitor, outbox, choice="first")
    _, second, _ = milestone_ids(db, cid)
    r = logged_in.post(f"/contracts/{cid}/milestones/{second}", {"title": "Bigger milestone 2", "amount": "2600",
                                                                 "due_date": "", "description": ""}, htmx=True)
    assert r.status_code == 200, r.text
    add_milestone(logged_in, cid, "Extra pages", "700")
    assert "Bigger milestone 2" in logged_in.get(f"/contracts/{cid}").text  # the contract did change

    for page in (visitor.get(f"{link}/agreement"), logged_in.get(f"/contracts/{cid}/agreement")):
        assert page.status_code == 200
        terms = text_of(page.text.split('id="terms-heading"', 1)[1].split('id="fee-heading"', 1)[0])
        assert "Milestone 2 $2,000.00" in terms and "Total: $3,500.00" in terms
        assert "Bigger" not in terms and "Extra pages" not in terms
        money = text_of(page.text.split('id="paid-heading"', 1)[1])
        assert "Extra pages (added after signing)" in money  # its money (none yet) is still listed


def test_a_revision_sent_after_a_signature_needs_its_own(app, db, logged_in, visitor, outbox):
    cid, link = sent_contract(logged_in, outbox)
    verify(visitor, link, outbox)
    assert fund(visitor, link, nonce="fake-processor-declined-visa-nonce").status_code == 422  # signed, not paid
    assert "Carla Client" in text_of(visitor.get(f"{link}/agreement").text)
    # a signed proposal is revised once the client asks for changes (until then it starts when they fund it)
    assert visitor.post(f"{link}/changes", {"message": "One more page, please.", "revision": "1"}).status_code == 303
    send_revision(logged_in, revise(logged_in, cid), cid)

    page = visitor.get(f"{link}/agreement")
    assert page.status_code == 200
    assert "You have not signed revision 2 of the proposal." in text_of(page.text)
    assert "Signed by" not in page.text
    member = logged_in.get(f"/contracts/{cid}/agreement")
    assert "Carla Client has not signed revision 2 yet." in text_of(member.text)


def test_before_signing_the_page_says_it_is_not_signed_yet(app, db, logged_in, visitor, outbox):
    cid, link = sent_contract(logged_in, outbox)
    verify(visitor, link, outbox)
    page = visitor.get(f"{link}/agreement")
    assert page.status_code == 200
    assert "Not signed yet" in page.text and "You have not signed revision 1 of the proposal." in text_of(page.text)
    assert "agreement" not in visitor.get(link).text.split("<main", 1)[1].split("How it works")[0].lower()
    member = logged_in.get(f"/contracts/{cid}/agreement")
    assert member.status_code == 200 and "Carla Client has not signed revision 1 yet." in text_of(member.text)
    assert f"/contracts/{cid}/agreement" not in logged_in.get(f"/contracts/{cid}").text

    draft = contract(db, cid)  # a contract never sent
    r = logged_in.post("/contracts", {"client_name": "Dora", "client_email": "dora@example.com", "client_company": ""})
    new_cid = int(re.search(r"/contracts/(\d+)/terms", r.location).group(1))
    page = logged_in.get(f"/contracts/{new_cid}/agreement")
    assert page.status_code == 200 and "This contract has not been sent yet" in page.text
    assert draft.state == "sent"


def test_an_unverified_device_confirms_first_and_comes_back_to_the_agreement(app, db, logged_in, visitor, outbox):
    cid, link = funded_contract(logged_in, visitor, outbox)
    stranger = Client(app.test_client())  # holds the link, has not confirmed the email on this device
    r = stranger.get(f"{link}/agreement")
    assert r.status_code == 303 and r.location.endswith(f"{link}/verify?next=agreement")
    assert f'href="{link}/agreement"' in stranger.get(link).text  # the link is there; it asks for the code first
    r = verify(stranger, link, outbox, next_action="agreement")
    assert r.location.endswith(f"{link}/agreement")
    assert "Signed by (typed name) Carla Client" in text_of(stranger.get(r.location).text)


def test_nobody_else_opens_it(app, db, make_member, login_as, outbox):
    owner = make_member("olive@shop.example", "Olive Owner", owner=True)
    fran = login_as(make_member("fran@example.com", "Fran Freelancer", owner=False), Client(app.test_client()))
    carla = Client(app.test_client())
    cid, link = funded_contract(fran, carla, outbox, title="Fran's site")
    bob = login_as(make_member("bob@example.com", "Bob Builder", owner=False), Client(app.test_client()))
    dora = Client(app.test_client())
    other_cid, other_link = funded_contract(bob, dora, outbox, title="Bob's shop")

    assert bob.get(f"/contracts/{cid}/agreement").status_code == 404  # another member
    admin = login_as(owner, Client(app.test_client()))
    assert admin.get(f"/contracts/{cid}/agreement").status_code == 404  # not her contract: through /admin only
    page = admin.get(f"/admin/contracts/{cid}/agreement")
    assert page.status_code == 200 and "Fran's site" in text_of(page.text) and "Carla Client" in page.text
    assert f'href="/admin/contracts/{cid}/agreement"' in admin.get(f"/admin/contracts/{cid}").text
    assert fran.get(f"/admin/contracts/{cid}/agreement").status_code == 404

    # Dora's link opens Dora's agreement only; her verified device does not open Carla's
    mine = dora.get(f"{other_link}/agreement")
    assert mine.status_code == 200 and "Bob's shop" in text_of(mine.text) and "Fran's site" not in text_of(mine.text)
    r = dora.get(f"{link}/agreement")
    assert r.status_code == 303 and "/verify" in r.location
    assert Client(app.test_client()).get("/c/not-a-real-token-at-all-0000000000/agreement").status_code == 404


def test_the_payments_listed_are_the_ledgers(app, db, logged_in, visitor, outbox, gateway):
    cid, link = every_way(logged_in, visitor, outbox, db, gateway)
    ids = milestone_ids(db, cid)
    money = ledger.milestone_money([cid])
    expected = []
    for n, mid in enumerate(ids):
        mm = money[mid]
        row = [Money(v, "USD").format() for v in (mm.funded, mm.released - mm.clawed, mm.refunded, mm.held)]
        expected.append([f"Milestone {n + 1}", *row])
    assert expected[0][1:3] == ["$1,000.00", "$1,000.00"]  # released in full
    assert expected[2][2:4] == ["$200.00", "$300.00"]  # a split

    for page in (visitor.get(f"{link}/agreement"), logged_in.get(f"/contracts/{cid}/agreement")):
        rows = re.findall(r'<tr data-testid="agreement-money-row">(.*?)</tr>', page.text, re.S)
        shown = [[text_of(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]
        assert shown == expected
        total = sum(int(a) * 100 for a in AMOUNTS)
        funded = sum(money[m].funded for m in ids)
        assert funded == total
        assert f'data-testid="agreement-funded">{Money(funded, "USD").format()}<' in page.text
        held = sum(money[m].held for m in ids)
        assert f'data-testid="agreement-held">{Money(held, "USD").format()}<' in page.text
    assert db.session.scalar(db.select(db.func.count(Milestone.id))) == len(AMOUNTS)
