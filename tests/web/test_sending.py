"""Review, send, the client email and link, revise, withdraw."""
import hashlib

from directcontracts.models import ClientToken, ContractRevision
from tests.web.builders import contract, create_draft, link_in, milestone_contract, revise, send, send_revision


def test_review_shows_what_the_client_sees_and_the_fee(logged_in, db):
    cid = milestone_contract(logged_in)
    page = logged_in.get(f"/contracts/{cid}/review")
    assert "Website redesign" in page.text and "Milestone 3" in page.text
    assert "$3,500.00" in page.text and "$119.00" in page.text and "$3,381.00" in page.text
    assert "you pay exactly the amounts shown, nothing more" in page.text
    assert "Send to Carla Client" in page.text


def test_review_lists_what_is_missing(logged_in, db):
    cid = create_draft(logged_in)
    page = logged_in.get(f"/contracts/{cid}/review")
    assert "Give the contract a title" in page.text and "Add an amount or at least one milestone" in page.text
    r = logged_in.post(f"/contracts/{cid}/send")
    assert r.status_code == 303 and r.location.endswith("/review")
    assert contract(db, cid).state == "draft"


def test_send_emails_the_client_a_link_stored_only_as_hash(logged_in, db, outbox, client):
    cid = milestone_contract(logged_in, amounts=("1000", "2000"))
    send(logged_in, cid)
    c = contract(db, cid)
    assert (c.state, c.revision, c.fee_bps) == ("sent", 1, 340) and c.sent_at
    [email] = outbox()
    assert email.to_addr == "carla@client-co.com" and email.sent_at and email.transport == "inbox"
    assert email.subject == "Fran Freelancer sent you a contract: Website redesign"
    for text in (email.body_text, email.body_html):
        assert "Milestone 1" in text and "$1,000.00" in text and "$2,000.00" in text and "$3,000.00" in text
        assert "no fee is added for you" in text.lower()
        assert "Escrow" in text
    path = link_in(email.body_text)
    raw = path.rsplit("/", 1)[1]
    assert len(raw) >= 40
    [token] = db.session.scalars(db.select(ClientToken)).all()
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert db.session.scalar(db.select(ContractRevision)).number == 1
    # the client (no login) opens the link
    page = client.get(path)
    assert page.status_code == 200 and "Proposal from Fran Freelancer" in page.text
    assert "$3,000.00" in page.text and "no fee is added" in page.text.lower()
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"
    # sending twice does not send twice
    r = logged_in.post(f"/contracts/{cid}/send")
    assert r.status_code == 303 and len(outbox()) == 1
    timeline = logged_in.get(f"/contracts/{cid}").text
    assert "Sent to carla@client-co.com." in timeline


def test_unknown_link_is_a_clear_page(client, db, member):
    r = client.get("/c/" + "x" * 43)
    assert r.status_code == 404 and "This link does not open a contract" in r.text


def test_revision_keeps_the_old_link_and_emails_the_new_terms(logged_in, db, outbox, client):
    cid = milestone_contract(logged_in, amounts=("1000",))
    send(logged_in, cid)
    old_link = link_in(outbox()[0].body_text)
    draft = revise(logged_in, cid)
    # a draft revision: the client's link still shows revision 1, as sent
    assert (contract(db, cid).state, contract(db, cid).revision) == ("sent", 1)
    before = client.get(old_link).text
    assert "is revising" not in before and "$1,000.00" in before
    m = contract(db, draft).milestones[0]
    logged_in.post(f"/contracts/{draft}/milestones/{m.id}", {"title": "Milestone 1", "amount": "1250"}, htmx=True)
    assert "$1,250.00" not in client.get(old_link).text
    send_revision(logged_in, draft, cid)
    assert contract(db, draft) is None  # applied and gone
    c = contract(db, cid)
    assert (c.state, c.revision) == ("sent", 2)
    revised = outbox()[-1]
    assert revised.subject == "Fran Freelancer revised the contract: Website redesign"
    assert "$1,250.00" in revised.body_text
    assert "$1,250.00" in client.get(old_link).text
    assert "$1,250.00" in client.get(link_in(revised.body_text)).text


def test_sent_contract_cannot_be_edited_until_reopened(logged_in, db):
    cid = milestone_contract(logged_in, amounts=("1000",))
    send(logged_in, cid)
    m = contract(db, cid).milestones[0]
    r = logged_in.post(f"/contracts/{cid}/milestones/{m.id}", {"title": "X", "amount": "9"}, htmx=True)
    assert r.status_code == 409 and "Cannot edit" in r.text
    r = logged_in.post(f"/contracts/{cid}/milestones", {"title": "X", "amount": "9"})
    assert r.status_code == 303
    assert contract(db, cid).total.minor == 100000
    assert logged_in.get(f"/contracts/{cid}/terms").status_code == 302


def test_withdraw_with_confirmation(logged_in, db, outbox, client):
    cid = milestone_contract(logged_in, amounts=("1000",))
    send(logged_in, cid)
    link = link_in(outbox()[0].body_text)
    confirm = logged_in.get(f"/contracts/{cid}/withdraw")
    assert "will be emailed" in confirm.text and "cannot be undone" in confirm.text
    assert logged_in.post(f"/contracts/{cid}/withdraw").status_code == 303
    assert contract(db, cid).state == "withdrawn"
    assert outbox()[-1].subject == "Contract withdrawn: Website redesign"
    page = client.get(link)
    assert page.status_code == 410 and "This proposal was withdrawn" in page.text
    again = logged_in.post(f"/contracts/{cid}/withdraw", follow_redirects=True)
    assert "Cannot withdraw: This contract was withdrawn." in again.text


def test_withdrawing_an_unsent_draft_emails_nobody(logged_in, db, outbox):
    cid = create_draft(logged_in)
    logged_in.post(f"/contracts/{cid}/withdraw")
    assert contract(db, cid).state == "withdrawn" and outbox() == []


def test_fee_rate_is_snapshotted_when_sent(logged_in, db, member):
    from directcontracts.models import ShopSettings
    cid = milestone_contract(logged_in, amounts=("1000",))
    send(logged_in, cid)
    ShopSettings.get().fee_bps = 500
    db.session.commit()
    assert "$34.00" in logged_in.get(f"/contracts/{cid}").text
    other = milestone_contract(logged_in, amounts=("1000",))
    assert "$50.00" in logged_in.get(f"/contracts/{other}/review").text
