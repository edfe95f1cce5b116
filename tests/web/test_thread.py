"""The contract's message thread over HTTP: both sides write (htmx and plain), batching, access, XSS, the
open change request, the client's money timeline."""
import re
from datetime import timedelta

import pytest

from directcontracts.models import Message, Notification, utcnow
from tests.conftest import Client
from tests.web.builders import (
    add_milestone, approve, contract, create_draft, funded_contract, link_in, milestone_contract, request_payment,
    save_terms, send, sent_contract, verify,
)

XSS = '<script>alert(1)</script> see javascript:alert(2) and https://example.com/a?b=1&c=2.'


@pytest.fixture
def sent(logged_in, outbox):
    return sent_contract(logged_in, outbox)


def run(runner, when) -> str:
    result = runner.invoke(args=["jobs", "run-due", "--now", when.strftime("%Y-%m-%d %H:%M:%S")])
    assert result.exit_code == 0, result.output
    return result.output


def thread_emails(outbox):
    return [e for e in outbox() if "about" in e.subject and ("wrote" in e.subject or "new messages" in e.subject)]


def test_both_sides_post_without_javascript(logged_in, visitor, sent, outbox, db):
    cid, link = sent
    r = logged_in.post(f"/contracts/{cid}/messages", {"body": "Hi Carla, any questions?"})
    assert r.status_code == 303 and r.location.endswith(f"/contracts/{cid}#thread")
    verify(visitor, link, outbox)
    r = visitor.post(f"{link}/messages", {"body": "Yes: can we start in May?"})
    assert r.status_code == 303 and r.location.endswith(f"{link}#thread")
    page = logged_in.get(f"/contracts/{cid}").text
    assert page.index("Hi Carla, any questions?") < page.index("Yes: can we start in May?")
    assert "Carla Client" in page and 'for="thread-body"' in page
    client_page = visitor.get(link).text
    assert "Hi Carla, any questions?" in client_page and "Fran Freelancer" in client_page
    assert db.session.scalar(db.select(Notification).where(Notification.message.contains("can we start")))


def test_htmx_post_returns_the_thread_with_an_empty_form(logged_in, visitor, sent, outbox):
    cid, link = sent
    r = logged_in.post(f"/contracts/{cid}/messages", {"body": "First note"}, htmx=True)
    assert r.status_code == 200 and "<html" not in r.text and 'id="thread"' in r.text
    assert "First note" in r.text and "First note</textarea>" not in r.text
    assert "HX-Request" in r.headers.get("Vary", "")
    verify(visitor, link, outbox)
    r = visitor.post(f"{link}/messages", {"body": "Client note"}, htmx=True)
    assert r.status_code == 200 and "<html" not in r.text and "Client note" in r.text and "First note" in r.text


def test_empty_and_too_long_messages_are_refused(logged_in, visitor, sent, outbox, db):
    cid, link = sent
    r = logged_in.post(f"/contracts/{cid}/messages", {"body": "  "}, htmx=True)
    assert r.status_code == 422 and "Write a message." in r.text and "<html" not in r.text
    r = logged_in.post(f"/contracts/{cid}/messages", {"body": "x" * 5001})
    assert r.status_code == 422 and "<html" in r.text and "Keep it under 5,000 characters." in r.text
    verify(visitor, link, outbox)
    r = visitor.post(f"{link}/messages", {"body": ""})
    assert r.status_code == 422 and "Write a message." in r.text
    assert db.session.scalar(db.select(db.func.count(Message.id)).where(Message.kind == "message")) == 0


def test_client_needs_a_verified_device_and_the_form_needs_csrf(logged_in, visitor, sent, outbox):
    cid, link = sent
    page = visitor.get(link).text
    assert "Verify your email on this device" in page and 'name="body"' not in page
    r = visitor.post(f"{link}/messages", {"body": "unverified"})
    assert r.status_code == 303 and "/verify" in r.location
    verify(visitor, link, outbox)
    assert visitor.post(f"{link}/messages", {"body": "no token"}, csrf=False).status_code == 400


def test_nobody_writes_on_an_unsent_or_withdrawn_contract(logged_in, visitor, outbox, db):
    cid = milestone_contract(logged_in)
    r = logged_in.post(f"/contracts/{cid}/messages", {"body": "draft note"})
    assert r.status_code == 303
    assert "Send the proposal first" in logged_in.get(r.location).text
    send(logged_in, cid)
    logged_in.post(f"/contracts/{cid}/withdraw")
    r = logged_in.post(f"/contracts/{cid}/messages", {"body": "after withdrawal"}, htmx=True)
    assert r.status_code == 409 and "withdrawn" in r.text
    assert db.session.scalar(db.select(db.func.count(Message.id)).where(Message.kind == "message")) == 0


def test_another_contracts_client_and_another_member_are_kept_out(
        logged_in, visitor, sent, outbox, db, app, make_member, login_as):
    cid, link = sent
    logged_in.post(f"/contracts/{cid}/messages", {"body": "Private to Carla"})
    other_cid = create_draft(logged_in, name="Olga Other", email="olga@other.com")
    save_terms(logged_in, other_cid)
    add_milestone(logged_in, other_cid, "Only one", "100")
    send(logged_in, other_cid)
    other_link = link_in(outbox()[-1].body_text)
    olga = Client(app.test_client())
    verify(olga, other_link, outbox)
    page = olga.get(other_link).text
    assert "Private to Carla" not in page
    r = olga.post(f"{other_link}/messages", {"body": "Olga writes"})
    assert r.status_code == 303
    assert db.session.scalar(db.select(Message.contract_id).where(Message.body == "Olga writes")) == other_cid
    assert "Olga writes" not in visitor.get(link).text
    bob = Client(app.test_client())
    login_as(make_member("bob@example.com", "Bob", owner=False), bob)
    assert bob.post(f"/contracts/{cid}/messages", {"body": "Bob intrudes"}).status_code == 404
    assert bob.get(f"/contracts/{cid}").status_code == 404
    assert db.session.scalar(db.select(Message.id).where(Message.body == "Bob intrudes")) is None


def test_xss_is_inert_on_both_pages_and_in_the_email(logged_in, visitor, sent, outbox, runner):
    cid, link = sent
    logged_in.post(f"/contracts/{cid}/messages", {"body": XSS})
    run(runner, utcnow() + timedelta(minutes=4))  # to the client (who has not answered yet)
    verify(visitor, link, outbox)
    visitor.post(f"{link}/messages", {"body": XSS})
    for page in (logged_in.get(f"/contracts/{cid}").text, visitor.get(link).text):
        assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert 'href="javascript:' not in page
        assert '<a href="https://example.com/a?b=1&amp;c=2" rel="nofollow noopener noreferrer"' in page
    run(runner, utcnow() + timedelta(minutes=4))
    emails = thread_emails(outbox)
    assert [e.to_addr for e in emails] == ["carla@client-co.com", "fran@example.com"]
    for email in emails:
        assert "<script>" not in email.body_html and "&lt;script&gt;" in email.body_html
        assert 'href="javascript:' not in email.body_html
        assert XSS in email.body_text  # plain text stays as written


def test_messages_within_minutes_make_one_email(logged_in, visitor, sent, outbox, runner, db):
    cid, link = sent
    verify(visitor, link, outbox)
    before = len(outbox())
    for text in ("One", "Two", "Three"):
        visitor.post(f"{link}/messages", {"body": text})
    now = utcnow()
    assert "messages emailed 0" in run(runner, now + timedelta(minutes=2))
    assert thread_emails(outbox) == []
    assert "messages emailed 1" in run(runner, now + timedelta(minutes=4))
    [email] = thread_emails(outbox)
    assert email.to_addr == "fran@example.com" and email.subject.startswith("3 new messages about")
    assert all(t in email.body_text for t in ("One", "Two", "Three"))
    assert re.search(rf"/contracts/{cid}\b", email.body_text)
    assert "messages emailed 0" in run(runner, now + timedelta(minutes=10))
    assert len(outbox()) == before + 1
    logged_in.post(f"/contracts/{cid}/messages", {"body": "Answer"})
    run(runner, utcnow() + timedelta(minutes=4))
    to_client = thread_emails(outbox)[-1]
    assert to_client.to_addr == "carla@client-co.com" and "Answer" in to_client.body_text
    assert "/c/" in to_client.body_text and "Fran Freelancer wrote about" in to_client.subject


def test_open_change_request_shows_until_the_freelancer_answers(logged_in, visitor, sent, outbox):
    cid, link = sent
    verify(visitor, link, outbox)
    r = visitor.post(f"{link}/changes", {"message": "Please add a logo.", "revision": "1"})
    assert r.status_code == 303, r.text
    page = logged_in.get(f"/contracts/{cid}").text
    assert 'data-testid="open-request"' in page and "Please add a logo." in page
    assert page.index('data-testid="open-request"') < page.index('id="thread"')
    r = logged_in.post(f"/contracts/{cid}/messages", {"body": "Will do."}, htmx=True)
    assert '<div id="open-request" hx-swap-oob="true">' in r.text and 'data-testid="open-request"' not in r.text
    assert 'data-testid="open-request"' not in logged_in.get(f"/contracts/{cid}").text
    # the change request is in the thread, and was not emailed a second time
    assert "asked for changes to the proposal" in visitor.get(link).text


def test_milestone_changes_banner_goes_away_when_payment_is_requested_again(logged_in, visitor, outbox, runner, db):
    cid, link = funded_contract(logged_in, visitor, outbox)
    mid = contract(db, cid).milestones[0].id
    request_payment(logged_in, cid, mid)
    r = visitor.post(f"{link}/milestones/{mid}/changes", {"message": "The footer is missing."})
    assert r.status_code == 303, r.text
    page = logged_in.get(f"/contracts/{cid}").text
    assert 'data-testid="open-request"' in page and "on “Milestone 1”" in page
    request_payment(logged_in, cid, mid, note="Footer added.")
    page = logged_in.get(f"/contracts/{cid}").text
    assert 'data-testid="open-request"' not in page and "Footer added." in page
    before = len(outbox())
    run(runner, utcnow() + timedelta(minutes=20))
    assert thread_emails(outbox) == [] and all("new messages" not in e.subject for e in outbox()[before:])


def test_money_timeline_shows_funding_and_release_in_plain_words(logged_in, visitor, outbox, db):
    cid, link = funded_contract(logged_in, visitor, outbox)
    c = contract(db, cid)
    mid = c.milestones[0].id
    request_payment(logged_in, cid, mid)
    page = visitor.get(link).text
    section = page[page.index('id="money-timeline-heading"'):]
    section = section[:section.index("</section>")]
    assert "You paid $3,500.00 into escrow for “Milestone 1”, “Milestone 2” and “Milestone 3”." in section
    assert "Upcoming:" in section and "will be released to Fran Freelancer automatically" in section
    approve(visitor, link, mid)
    page = visitor.get(link).text
    section = page[page.index('id="money-timeline-heading"'):]
    section = section[:section.index("</section>")]
    assert "$1,000.00 was released to Fran Freelancer for “Milestone 1”." in section
    assert "Upcoming:" not in section
    for internal in ("order", "ref ", "journal", "email", c.ref.lower()):
        assert internal not in section.lower(), internal
