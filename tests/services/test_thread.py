"""services.thread: posting, batched emails (and who gets them), action entries, the open request, money events."""
from datetime import timedelta

import pytest

from directcontracts.models import Contract, Message, Notification, OutboxEmail, utcnow
from directcontracts.services import (
    client_actions, disputes, drafts, lifecycle, milestone_editor, proposals, thread,
)
from directcontracts.services.errors import InvalidTransition, ValidationFailed
from tests.services.conftest import fund_as_shown


def _contract(app, db, cid):
    db.session.expire_all()
    return db.session.get(Contract, cid)


def _thread_emails(db):
    return list(db.session.scalars(db.select(OutboxEmail).where(OutboxEmail.subject.contains(" about "))
                                   .order_by(OutboxEmail.id)))


def _age(db, cid, minutes):
    """Make every message of the contract ``minutes`` older (the clock of the batching)."""
    for m in db.session.scalars(db.select(Message).where(Message.contract_id == cid)):
        m.created_at -= timedelta(minutes=minutes)
    db.session.commit()


def test_post_validates_and_refuses_closed_threads(app, db, member):
    with app.test_request_context():
        c = drafts.create_draft(member, client_name="Carla Client", client_email="carla@client-co.com")
        drafts.update_terms(c, title="Logo", scope="", currency="USD", kind="milestones")
        milestone_editor.add_milestone(c, {"title": "Sketches", "amount": "100"})
        with pytest.raises(InvalidTransition, match="client can write once"):
            thread.post(c, "client", "Hello?")
        proposals.send(c, member)
        with pytest.raises(ValidationFailed) as exc:
            thread.post(c, "client", "   ")
        assert exc.value.errors == {"body": "Write a message."}
        with pytest.raises(ValidationFailed):
            thread.post(c, "freelancer", "x" * 5001)
        thread.post(c, "client", "Hello!")
        proposals.withdraw(c, member)
        with pytest.raises(InvalidTransition, match="withdrawn"):
            thread.post(c, "freelancer", "Still there?")
        assert [m.body for m in thread.messages(c)] == ["Hello!"]
        assert db.session.scalar(db.select(Notification).where(Notification.message.contains("Hello!")))


def test_batching_quiet_and_busy_threads(app, db, accepted_contract):
    with app.test_request_context():
        c = _contract(app, db, accepted_contract)
        for text in ("a", "b"):
            thread.post(c, "client", text)
        now = utcnow()
        assert thread.email_due(now) == 0
        assert thread.email_due(now + thread.BATCH) == 1
        [email] = _thread_emails(db)
        assert email.to_addr == c.member.email and "a" in email.body_text and "b" in email.body_text
        assert thread.email_due(now + timedelta(hours=1)) == 0
        # a busy thread: the newest is always fresh, but the oldest waits at most LONGEST_WAIT
        thread.post(c, "freelancer", "first")
        _age(db, c.id, 16)
        thread.post(c, "freelancer", "second, just now")  # a post also emails what is due meanwhile
        assert thread.email_due(utcnow()) == 0
        email = _thread_emails(db)[-1]
        assert email.to_addr == "carla@client-co.com" and "second, just now" in email.body_text
        assert "/c/" in email.body_text


def test_action_entries_are_in_the_thread_but_not_emailed_again(app, db, accepted_contract, member):
    fund_as_shown(app, accepted_contract, "all", "k-all")
    with app.test_request_context():
        c = _contract(app, db, accepted_contract)
        m = c.milestones[0]
        lifecycle.request_payment(c, m.id, note="Done.", url="https://staging.example.com")
        lifecycle.client_request_changes(c, m.id, message="Footer missing.")
        assert thread.open_request(c).body == "Footer missing."
        lifecycle.request_payment(c, m.id, note="Footer added.")
        assert thread.open_request(c) is None
        kinds = [(e.author, e.kind) for e in thread.messages(c)]
        assert kinds == [("freelancer", "payment_request"), ("client", "milestone_changes"),
                         ("freelancer", "payment_request")]
        assert all(e.emailed_at is not None for e in thread.messages(c))
        assert thread.email_due(utcnow() + timedelta(hours=1)) == 0


def test_proposal_changes_revision_and_decline_entries(app, db, member):
    with app.test_request_context():
        c = drafts.create_draft(member, client_name="Carla Client", client_email="carla@client-co.com")
        drafts.update_terms(c, title="Logo", scope="", currency="USD", kind="milestones")
        milestone_editor.add_milestone(c, {"title": "Sketches", "amount": "100"})
        proposals.send(c, member)
        client_actions.reply(c, "changes", "Cheaper please.")
        assert thread.open_request(c).kind == "proposal_changes"
        draft = proposals.revise(c, member)
        assert thread.open_request(c) is not None  # a draft revision is not yet an answer
        assert proposals.send(draft, member) is c
        assert thread.open_request(c) is None
        client_actions.reply(c, "decline", "Too slow.")
        assert [e.kind for e in thread.messages(c)] == ["proposal_changes", "revision_sent", "declined"]
        assert thread.messages(c)[1].body == "Sent revision 2 of the proposal."


def _dispute_contract(app, db, freelancer):
    with app.test_request_context():
        c = drafts.create_draft(freelancer, client_name="Carla Client", client_email="carla@client-co.com")
        drafts.update_terms(c, title="Logo", scope="", currency="USD", kind="milestones")
        milestone_editor.add_milestone(c, {"title": "Sketches", "amount": "100"})
        proposals.send(c, freelancer)
        client_actions.accept(c, signer_name="Carla Client", agreed=True, ip="127.0.0.1", user_agent="pytest")
    fund_as_shown(app, c.id, "all", "k-all")
    with app.test_request_context():
        c = _contract(app, db, c.id)
        d = disputes.open_dispute(c, c.milestones[0].id, by="client", reason="quality", statement="Blurry.")
        disputes.say(d, by="freelancer", body="They are sketches.")
        return c, d


def test_dispute_messages_go_to_the_mediator_too(app, db, make_member):
    olive = make_member("olive@example.com", "Olive Owner", owner=True)
    fran = make_member("fran@example.com", "Fran Freelancer", owner=False)
    c, d = _dispute_contract(app, db, fran)
    with app.test_request_context():
        before = {e.id for e in _thread_emails(db)}
        assert thread.email_due(utcnow() + thread.BATCH) == 2
        sent = [e for e in _thread_emails(db) if e.id not in before]
        assert sorted(e.to_addr for e in sent) == ["carla@client-co.com", olive.email]
        owner_email = next(e for e in sent if e.to_addr == olive.email)
        assert "They are sketches." in owner_email.body_text
        assert f"/disputes/{d.id}" in owner_email.body_text


def test_the_owner_is_not_emailed_twice_on_their_own_contract(app, db, member):
    c, d = _dispute_contract(app, db, member)  # the first member is the owner
    with app.test_request_context():
        assert thread.email_due(utcnow() + thread.BATCH) == 1
        assert _thread_emails(db)[-1].to_addr == "carla@client-co.com"


def test_money_events_in_plain_words(app, db, accepted_contract):
    fund_as_shown(app, accepted_contract, "all", "k-all")
    with app.test_request_context():
        c = _contract(app, db, accepted_contract)
        m = c.milestones[0]
        lifecycle.request_payment(c, m.id, note="Done.")
        events = thread.money_events(c)
        assert [e.upcoming for e in events] == [False, True]
        assert events[0].text == "You paid $3,500.00 into escrow for “Milestone 1”, “Milestone 2” and “Milestone 3”."
        lifecycle.approve(c, m.id)
        texts = [e.text for e in thread.money_events(_contract(app, db, accepted_contract))]
        assert texts[-1] == "$1,000.00 was released to Fran Freelancer for “Milestone 1”."
        assert not any(c.ref in t or "order" in t.lower() for t in texts)


def test_an_offer_is_emailed_and_writing_elsewhere_does_not_mute_a_dispute(app, db, accepted_contract):
    """Found in a deployment run: offers were never emailed, and any later entry of a party anywhere on the
    contract (another dispute, the main thread) kept a dispute's messages from them."""
    fund_as_shown(app, accepted_contract, "all", "k-all")
    with app.test_request_context():
        c = _contract(app, db, accepted_contract)
        first, second = [disputes.open_dispute(_contract(app, db, accepted_contract), m.id, by="client",
                                               reason="quality", statement="Not right.") for m in c.milestones[:2]]
        disputes.say(first, by="freelancer", body="About the first one: it is done.")
        disputes.propose_split(second, by="freelancer", release_text="1500")
        thread.post(_contract(app, db, accepted_contract), "client", "An unrelated question.")
        _age(db, accepted_contract, 10)
        thread.email_due(utcnow())
    [to_client] = [e for e in _thread_emails(db) if e.to_addr == "carla@client-co.com"]
    assert "it is done" in to_client.body_text and "Offered to settle: $1,500.00" in to_client.body_text
    with app.test_request_context():
        disputes.say(first, by="freelancer", body="Anything else?")
        disputes.say(first, by="client", body="No, thanks.")  # answered in that conversation: read
        _age(db, accepted_contract, 10)
        thread.email_due(utcnow())
    assert not [e for e in _thread_emails(db)[1:] if e.to_addr == "carla@client-co.com" and "Anything" in e.body_text]


def test_run_due_sends_the_thread_emails_it_queues_in_the_same_run(app, db, runner, accepted_contract):
    """Found in a deployment run: the emails were queued a moment after the run's ``now`` and waited a run."""
    with app.test_request_context():
        thread.post(_contract(app, db, accepted_contract), "client", "Are we on for Monday?")
    _age(db, accepted_contract, 10)
    result = runner.invoke(args=["jobs", "run-due", "--now", utcnow().strftime("%Y-%m-%d %H:%M:%S")])
    assert result.exit_code == 0, result.output
    assert "messages emailed 1" in result.output
    db.session.expire_all()
    [email] = _thread_emails(db)
    assert email.sent_at is not None
