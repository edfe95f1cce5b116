"""The client's side: open, verify, reply, sign and fund — over HTTP with CSRF on."""
import re
from datetime import timedelta

import pytest

from directcontracts.models import Acceptance, Journal, Notification, PaymentAttempt, utcnow
from directcontracts.services import client_access, ledger
from tests.conftest import sales
from tests.web.builders import contract, fund, fund_form_key, latest_code, revise, send_revision, sent_contract, verify


@pytest.fixture
def sent(logged_in, outbox):
    return sent_contract(logged_in, outbox)


def assert_ledger_ok():
    from directcontracts.extensions import db
    db.session.expire_all()  # requests ran in their own sessions
    assert ledger.check() == []


def test_link_shows_the_proposal_with_guidance(visitor, sent, db):
    cid, link = sent
    page = visitor.get(link)
    assert page.status_code == 200
    for text in ("Proposal from Fran Freelancer", "Design and build.", "Milestone 1", "$1,000.00",
                 "$3,500.00", "you pay exactly the amounts shown, nothing more", "Escrow:", "Refunds:", "left unanswered for 14 days is released automatically",
                 "Test mode", "Accept and fund", "Request changes", "Decline"):
        assert text in page.text, text


def test_actions_need_a_verified_device(visitor, sent, outbox, db):
    cid, link = sent
    for action in ("fund", "changes", "decline"):
        r = visitor.get(f"{link}/{action}")
        assert r.status_code == 303 and f"/verify?next={action}" in r.location
    r = visitor.post(f"{link}/fund", {"idempotency_key": "k1", "choice": "first",
                                      "payment_method_nonce": "fake-valid-nonce"})
    assert r.status_code == 303 and "/verify" in r.location
    assert db.session.scalar(db.select(db.func.count(PaymentAttempt.id))) == 0
    page = visitor.get(f"{link}/verify?next=fund")
    assert "c•••@client-co.com" in page.text and 'label for="code"' in page.text


def test_verification_code_flow_and_cookie(visitor, sent, outbox, db):
    cid, link = sent
    r = visitor.post(f"{link}/verify/send", {"next": "fund"})
    assert "We emailed a code" in r.text
    email = outbox()[-1]
    assert email.to_addr == "carla@client-co.com" and "valid for 15 minutes" in email.body_text
    code = latest_code(outbox)
    assert code not in (client_access._row(contract(db, cid)).code_hash or "")
    db.session.rollback()
    wrong = visitor.post(f"{link}/verify", {"code": "000000" if code != "000000" else "111111", "next": "fund"})
    assert wrong.status_code == 422 and "4 tries left" in wrong.text
    ok = visitor.post(f"{link}/verify", {"code": code, "next": "fund"})
    assert ok.status_code == 303 and ok.location.endswith(f"{link}/fund")
    cookie = ok.headers["Set-Cookie"]
    assert f"dc_device_{cid}=" in cookie and "HttpOnly" in cookie and "Path=/c" in cookie and "Max-Age=2592000" in cookie
    assert visitor.get(f"{link}/fund").status_code == 200
    # a used code cannot be used again
    assert visitor.post(f"{link}/verify", {"code": code}).status_code == 422


def test_five_wrong_codes_lock_for_fifteen_minutes(app, sent, db, outbox):
    cid, _ = sent
    c = contract(db, cid)
    now = utcnow()
    client_access.send_code(c, now)
    code = latest_code(outbox)
    wrong = "123456" if code != "123456" else "654321"
    for left in (4, 3, 2, 1):
        with pytest.raises(client_access.VerificationError, match=f"{left} tr"):
            client_access.check_code(c, wrong, now)
    with pytest.raises(client_access.VerificationError, match="Try again in 15 minutes"):
        client_access.check_code(c, wrong, now)
    with pytest.raises(client_access.VerificationError, match="Too many wrong codes"):
        client_access.check_code(c, code, now + timedelta(minutes=5))  # even the right code
    with pytest.raises(client_access.VerificationError, match="Too many wrong codes"):
        client_access.send_code(c, now + timedelta(minutes=14))
    later = now + timedelta(minutes=16)
    client_access.send_code(c, later)
    client_access.check_code(c, latest_code(outbox), later)


def test_code_expires_after_fifteen_minutes_and_sending_is_limited(sent, db, outbox):
    cid, _ = sent
    c = contract(db, cid)
    now = utcnow()
    client_access.send_code(c, now)
    with pytest.raises(client_access.VerificationError, match="expired"):
        client_access.check_code(c, latest_code(outbox), now + timedelta(minutes=15, seconds=1))
    for n in range(4):
        client_access.send_code(c, now + timedelta(minutes=n))
    with pytest.raises(client_access.VerificationError, match="Too many codes"):
        client_access.send_code(c, now + timedelta(minutes=5))
    client_access.send_code(c, now + timedelta(hours=1, minutes=1))


def test_device_cookie_is_for_one_contract_only(visitor, logged_in, outbox, db):
    cid_a, link_a = sent_contract(logged_in, outbox)
    cid_b, link_b = sent_contract(logged_in, outbox)
    verify(visitor, link_a, outbox)
    assert visitor.get(f"{link_a}/fund").status_code == 200
    assert visitor.get(f"{link_b}/fund").status_code == 303  # still needs its own verification
    # a forged cookie for B is ignored
    visitor.http.set_cookie(f"dc_device_{cid_b}", "forged", path="/c")
    assert visitor.get(f"{link_b}/fund").status_code == 303


def test_find_by_reference_without_revealing_it(visitor, sent, outbox, db):
    cid, _ = sent
    ref = contract(db, cid).ref
    unknown = visitor.post("/c", {"ref": "DC-0000-0000"})
    known = visitor.post("/c", {"ref": ref.lower().replace("-", " ")})
    message = "is a contract reference, we emailed a 6-digit code to its client"
    assert message in unknown.text and message in known.text
    assert len([e for e in outbox() if e.subject.startswith("Your verification code")]) == 1
    bad = visitor.post("/c/open", {"ref": ref, "code": "000000"})
    assert bad.status_code == 422
    r = visitor.post("/c/open", {"ref": ref, "code": latest_code(outbox)})
    assert r.status_code == 303 and re.match(r"^/c/[A-Za-z0-9_\-]{40,}$", r.location)
    page = visitor.get(r.location)
    assert "Proposal from Fran Freelancer" in page.text
    assert visitor.get(f"{r.location}/fund").status_code == 200  # verified by the code


def test_request_changes_then_revise(visitor, logged_in, sent, outbox, db):
    cid, link = sent
    verify(visitor, link, outbox, "changes")
    empty = visitor.post(f"{link}/changes", {"message": "  "})
    assert empty.status_code == 422 and "Tell the freelancer what to change." in empty.text
    r = visitor.post(f"{link}/changes", {"message": "Please split Build into two."})
    assert r.status_code == 303
    assert contract(db, cid).state == "changes_requested"
    assert "You asked for changes" in visitor.get(link).text
    email = outbox()[-1]
    assert email.to_addr == "fran@example.com" and "Please split Build into two." in email.body_text
    notes = [n.message for n in db.session.scalars(db.select(Notification).order_by(Notification.id))]
    assert sorted(notes) == ["Carla Client asked for changes to “Website redesign”.",
                             "Carla Client opened “Website redesign”."]
    assert ">2</span>" in logged_in.get("/contracts").text  # the bell
    assert "Please split Build into two." in logged_in.get(f"/contracts/{cid}").text
    assert visitor.post(f"{link}/changes", {"message": "again"}).status_code == 409
    # the freelancer revises and re-sends; the client can act again
    draft = revise(logged_in, cid)
    assert contract(db, cid).state == "changes_requested"  # until the revision is sent
    assert "You asked for changes" in visitor.get(link).text
    send_revision(logged_in, draft, cid)
    assert contract(db, cid).state == "sent" and contract(db, cid).revision == 2


def test_decline(visitor, sent, outbox, db):
    cid, link = sent
    verify(visitor, link, outbox, "decline")
    assert visitor.post(f"{link}/decline", {"reason": ""}).status_code == 422
    assert visitor.post(f"{link}/decline", {"reason": "Budget cut."}).status_code == 303
    assert contract(db, cid).state == "declined"
    assert "Budget cut." in outbox()[-1].body_text and outbox()[-1].to_addr == "fran@example.com"
    page = visitor.get(link)
    assert "You declined this proposal" in page.text and "Accept and fund" not in page.text
    assert visitor.get(f"{link}/fund").status_code == 303


def test_sign_and_fund_first_milestone_by_card(visitor, logged_in, sent, outbox, db, gateway):
    cid, link = sent
    verify(visitor, link, outbox, "fund")
    form = visitor.get(f"{link}/fund")
    assert "Your full name (your signature)" in form.text and "No fee is added" in form.text
    assert "The first milestone, Milestone 1: $1,000.00" in form.text and "All 3 milestones at once: $3,500.00" in form.text
    unsigned = fund(visitor, link, sign=False)
    assert unsigned.status_code == 422 and "Type your full name to sign." in unsigned.text
    assert "Tick the box to agree" in unsigned.text and sales(gateway) == []
    r = fund(visitor, link, amount="1", currency="JPY")  # tampered fields are ignored
    assert r.status_code == 303
    receipt = visitor.get(r.location)
    for text in ("Receipt", "$1,000.00", "Visa ending in 1881", "held in escrow", "None — you pay exactly"):
        assert text in receipt.text, text
    [sale] = sales(gateway)
    assert (sale["minor"], sale["currency"], sale["status"]) == (100000, "USD", "submitted_for_settlement")
    assert sale["id"] in receipt.text
    c = contract(db, cid)
    assert c.state == "active" and [m.state for m in c.milestones] == ["funded", "pending", "pending"]
    acceptance = db.session.scalar(db.select(Acceptance))
    assert acceptance.signer_name == "Carla Client" and acceptance.ip_address == "127.0.0.1"
    assert acceptance.user_agent and acceptance.revision_id
    [journal] = db.session.scalars(db.select(Journal)).all()
    assert journal.kind == "funding" and sorted(e.amount_minor for e in journal.entries) == [-100000, 100000]
    assert_ledger_ok()
    subjects = [e.subject for e in outbox()]
    assert "Receipt: $1,000.00 held in escrow for Website redesign" in subjects
    assert "Funded — you can begin: Website redesign" in subjects
    assert "you can begin" in db.session.scalar(db.select(Notification)).message
    page = visitor.get(link)
    assert "Contract from Fran Freelancer" in page.text and "Fund a milestone" in page.text
    assert re.search(r'data-testid="escrow-held">\$1,000.00<', page.text)
    listing = logged_in.get("/contracts")
    assert "Active" in listing.text and "$1,000.00" in listing.text
    # later milestones can be funded from the same page, one at a time
    later = visitor.get(f"{link}/fund")
    assert "Signed by Carla Client" in later.text and "Milestone 3: $500.00" in later.text
    m3 = c.milestones[2]
    assert fund(visitor, link, choice=f"m{m3.id}", sign=False).status_code == 303
    assert [m.state for m in contract(db, cid).milestones] == ["funded", "pending", "funded"]
    assert_ledger_ok()


def test_fund_all_at_once_with_paypal(visitor, sent, outbox, db, gateway):
    cid, link = sent
    verify(visitor, link, outbox)
    r = fund(visitor, link, choice="all", nonce="fake-paypal-one-time-nonce")
    receipt = visitor.get(r.location).text
    assert "PayPal (" in receipt and "$3,500.00" in receipt
    assert [m.state for m in contract(db, cid).milestones] == ["funded"] * 3
    assert sales(gateway)[0]["minor"] == 350000
    assert "There is nothing left to fund." in visitor.get(f"{link}/fund").text
    assert_ledger_ok()


@pytest.mark.parametrize("nonce, amounts, status, shown", [
    ("fake-processor-declined-visa-nonce", ("1000",), "declined", "Payment declined."),
    ("fake-gateway-rejected-fraud-nonce", ("1000",), "rejected", "Payment not completed."),
    ("fake-valid-nonce", ("2001",), "declined", "Insufficient Funds"),
    ("fake-valid-nonce", ("3000",), "failed", "Payment not completed."),
    ("not-a-nonce", ("1000",), "failed", "Payment not completed."),
])
def test_failed_payments_change_nothing_and_can_be_retried(visitor, logged_in, outbox, db, gateway,
                                                          nonce, amounts, status, shown):
    cid, link = sent_contract(logged_in, outbox, amounts=amounts)
    verify(visitor, link, outbox)
    key = fund_form_key(visitor, link)
    r = fund(visitor, link, nonce=nonce, key=key)
    assert r.status_code == 422 and shown in r.text and "Nothing was charged" in r.text
    attempt = db.session.scalar(db.select(PaymentAttempt))
    assert attempt.status == status and attempt.message in r.text.replace("&#39;", "'")
    c = contract(db, cid)
    assert c.state == "sent" and c.milestones[0].state == "pending" and c.milestones[0].hold_attempt_id is None
    assert db.session.scalar(db.select(db.func.count(Journal.id))) == 0
    new_key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', r.text).group(1)
    assert new_key != key  # a retry is a new attempt
    if amounts == ("1000",):  # the sandbox's amount rules decline every method; nonce rules only that one
        ok = fund(visitor, link, key=new_key, nonce="fake-paypal-one-time-nonce")
        assert ok.status_code == 303 and contract(db, cid).milestones[0].state == "funded"
    assert_ledger_ok()


def test_same_key_twice_charges_once(visitor, sent, outbox, db, gateway):
    cid, link = sent
    verify(visitor, link, outbox)
    key = fund_form_key(visitor, link)
    first = fund(visitor, link, key=key)
    second = fund(visitor, link, key=key, choice="all")
    assert first.location == second.location
    assert len(sales(gateway)) == 1
    assert db.session.scalar(db.select(db.func.count(Journal.id))) == 1
    assert [m.state for m in contract(db, cid).milestones] == ["funded", "pending", "pending"]
    assert_ledger_ok()


def test_htmx_funding_redirects_or_swaps_the_widget(visitor, sent, outbox, db):
    cid, link = sent
    verify(visitor, link, outbox)
    declined = fund(visitor, link, nonce="fake-processor-declined-visa-nonce", htmx=True)
    assert declined.status_code == 422 and "<html" not in declined.text
    assert declined.text.lstrip().startswith('<div id="fund">') and "Do Not Honor" in declined.text
    ok = fund(visitor, link, htmx=True)
    assert ok.status_code == 200 and "/payments/" in ok.headers["HX-Redirect"]


def test_lost_response_is_reconciled_to_funded(visitor, sent, outbox, db, gateway, runner):
    cid, link = sent
    verify(visitor, link, outbox)
    r = fund(visitor, link, nonce="fake-timeout-nonce")
    assert r.status_code == 303
    page = visitor.get(r.location)
    assert "We could not confirm your payment yet" in page.text and "not been charged twice" in page.text
    assert 'hx-trigger="every 5s"' in page.text
    attempt = db.session.scalar(db.select(PaymentAttempt))
    assert attempt.status == "unknown" and len(sales(gateway)) == 1
    c = contract(db, cid)
    assert c.milestones[0].state == "pending" and c.milestones[0].hold_attempt_id == attempt.id
    assert ledger.check() == []  # unknown is not succeeded: nothing is owed to the ledger yet
    # no second payment while the first is unknown: the form is replaced, a stale form is refused
    assert "being confirmed" in visitor.get(f"{link}/fund").text
    for choice in ("first", "all"):
        again = fund(visitor, link, sign=False, key=f"other-{choice}", choice=choice)
        assert again.status_code == 409 and "being confirmed" in again.text
    assert len(sales(gateway)) == 1
    assert "A payment of $1,000.00 is being confirmed" in visitor.get(link).text
    result = runner.invoke(args=["payments", "reconcile"])
    assert "succeeded 1, failed 0" in result.output, result.output
    db.session.expire_all()
    assert db.session.get(PaymentAttempt, attempt.id).status == "succeeded"
    assert contract(db, cid).milestones[0].state == "funded" and contract(db, cid).state == "active"
    assert db.session.scalar(db.select(db.func.count(Journal.id))) == 1
    assert any(e.subject.startswith("Receipt: $1,000.00") for e in outbox())
    assert "Receipt" in visitor.get(r.location).text
    # reconciling again changes nothing
    assert "succeeded 0, failed 0" in runner.invoke(args=["payments", "reconcile"]).output
    assert_ledger_ok()


def test_sale_that_never_reached_the_gateway_ends_failed(visitor, sent, outbox, db, gateway, runner):
    cid, link = sent
    verify(visitor, link, outbox)
    fund(visitor, link, nonce="fake-unreachable-nonce")
    attempt = db.session.scalar(db.select(PaymentAttempt))
    assert attempt.status == "unknown" and sales(gateway) == []
    assert "still waiting 1" in runner.invoke(args=["payments", "reconcile"]).output  # within the grace period
    later = (attempt.created_at + timedelta(minutes=11)).strftime("%Y-%m-%d %H:%M:%S")
    assert "failed 1" in runner.invoke(args=["payments", "reconcile", "--now", later]).output
    db.session.expire_all()
    assert db.session.get(PaymentAttempt, attempt.id).status == "failed"
    c = contract(db, cid)
    assert c.milestones[0].state == "pending" and c.milestones[0].hold_attempt_id is None
    assert outbox()[-1].subject == "Your payment for Website redesign did not go through"
    assert fund(visitor, link, sign=False).status_code == 303  # free to pay again
    assert_ledger_ok()


def test_one_link_opens_one_contract(visitor, logged_in, outbox, db):
    cid_a, link_a = sent_contract(logged_in, outbox)
    cid_b, link_b = sent_contract(logged_in, outbox)
    verify(visitor, link_b, outbox)
    r = fund(visitor, link_b)
    attempt_b = r.location.rsplit("/", 1)[1]
    # A payment's page needs a device verified for its link's contract; verified for A, B's is not there.
    assert visitor.get(f"{link_a}/payments/{attempt_b}").status_code == 303
    verify(visitor, link_a, outbox)
    assert visitor.get(f"{link_a}/payments/{attempt_b}").status_code == 404
    assert "Proposal from" in visitor.get(link_a).text and "Contract from" in visitor.get(link_b).text


def test_member_session_does_not_let_anyone_fund(logged_in, sent, db, gateway):
    cid, link = sent
    r = logged_in.post(f"{link}/fund", {"idempotency_key": "abc", "choice": "first",
                                        "payment_method_nonce": "fake-valid-nonce",
                                        "signer_name": "Fran", "agree": "yes"})
    assert r.status_code == 303 and "/verify" in r.location and sales(gateway) == []


@pytest.mark.corrupts_ledger
def test_ledger_check_cli_names_offending_rows(runner, visitor, sent, outbox, db):
    cid, link = sent
    verify(visitor, link, outbox)
    fund(visitor, link)
    ok = runner.invoke(args=["ledger", "check"])
    assert ok.exit_code == 0 and "ledger OK" in ok.output
    from directcontracts.models import LedgerEntry
    journal = db.session.scalar(db.select(Journal))
    db.session.add(LedgerEntry(journal_id=journal.id, contract_id=cid, milestone_id=contract(db, cid).milestones[0].id,
                               account="fees", amount_minor=1, currency="USD"))
    db.session.commit()
    bad = runner.invoke(args=["ledger", "check"])
    assert bad.exit_code == 1 and f"journal {journal.id} sums to 1, not 0" in bad.output


def test_freelancer_cannot_revise_or_withdraw_while_the_client_pays(visitor, logged_in, sent, outbox, db):
    cid, link = sent
    verify(visitor, link, outbox)
    fund(visitor, link, nonce="fake-timeout-nonce")  # the outcome is unknown: milestone 1 is held
    for action in ("revise", "withdraw"):
        r = logged_in.post(f"/contracts/{cid}/{action}", follow_redirects=True)
        assert "The client is paying right now" in r.text
    assert contract(db, cid).state == "sent"
