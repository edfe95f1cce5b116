"""Disputes through the services: opening freezes the money, the parties settle or the owner decides,
and every decision posts exactly what it says — to the ledger and to the gateway."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from directcontracts.domain.fees import round_half_up_bps
from directcontracts.models import Contract, Dispute, Journal, Member, Message, Milestone, OutboxEmail
from directcontracts.payments.testgateway import REFUND_ANSWER_LOST
from directcontracts.services import client_actions, disputes, drafts, ledger, lifecycle, milestone_editor, proposals
from directcontracts.services import refunds
from directcontracts.services.errors import InvalidTransition, ValidationFailed
from tests.conftest import race, sales
from tests.services.conftest import fund_as_shown

T0 = datetime(2030, 1, 1, 12, 0)


@pytest.fixture
def mediator(make_member):
    return make_member("olga@shop.example", "Olga Owner", owner=True)


@pytest.fixture
def member(mediator, make_member):
    """The freelancer: a member of the shop, not its owner (so the owner may judge)."""
    return make_member()


def signed(app, member, amounts, currency="USD") -> int:
    with app.test_request_context():
        c = drafts.create_draft(member, client_name="Carla Client", client_email="carla@client-co.com")
        drafts.update_terms(c, title="Website", scope="", currency=currency, kind="milestones")
        for n, amount in enumerate(amounts, 1):
            milestone_editor.add_milestone(c, {"title": f"Milestone {n}", "amount": amount})
        proposals.send(c, member)
        client_actions.accept(c, signer_name="Carla Client", agreed=True, ip="127.0.0.1", user_agent="pytest")
        return c.id


def contract(db, cid) -> Contract:
    db.session.expire_all()
    return db.session.get(Contract, cid)


def funded(app, db, gateway, cid, *, submit=True, settle=True) -> int:
    """Fund the first milestone (its own sale), settle the sale, request payment; its id."""
    fund_as_shown(app, cid, "first", f"k-{cid}")
    if settle:
        gateway.settle(sales(gateway)[-1]["id"])
    mid = contract(db, cid).milestones[0].id
    if submit:
        with app.test_request_context():
            lifecycle.request_payment(contract(db, cid), mid, note="Done.", now=T0)
    return mid


def opened(app, db, cid, mid, by="client", amount="") -> Dispute:
    with app.test_request_context():
        return disputes.open_dispute(contract(db, cid), mid, by=by, reason="not_as_agreed",
                                     statement="The pages are not responsive.", amount_text=amount, now=T0)


def money(db, mid):
    db.session.expire_all()
    m = db.session.get(Milestone, mid)
    return ledger.milestone_money([m.contract_id])[mid]


def run(runner, when: datetime) -> str:
    result = runner.invoke(args=["jobs", "run-due", "--now", when.strftime("%Y-%m-%d %H:%M:%S")])
    assert result.exit_code == 0, result.output
    return result.output


def emails(db, subject_start):
    return [e.to_addr for e in db.session.scalars(db.select(OutboxEmail).order_by(OutboxEmail.id))
            if e.subject.startswith(subject_start)]


# ---- opening and the freeze ---------------------------------------------------

def test_the_client_opens_a_dispute_and_the_money_freezes(app, db, runner, member, mediator, gateway):
    cid = signed(app, member, ["1000"])
    mid = funded(app, db, gateway, cid)
    d = opened(app, db, cid, mid)
    m = db.session.get(Milestone, mid)
    assert m.state == "disputed" and m.auto_release_at is None and d.respond_by == T0 + timedelta(days=7)
    assert sorted(emails(db, "Dispute opened")) == ["carla@client-co.com", "fran@example.com", "olga@shop.example"]
    assert [msg.kind for msg in db.session.scalars(db.select(Message))][-1] == "dispute_opened"
    with app.test_request_context():
        for act in (lambda: lifecycle.approve(contract(db, cid), mid),
                    lambda: lifecycle.refund(contract(db, cid), mid, reason="Cancelled."),
                    lambda: lifecycle.end(contract(db, cid))):
            with pytest.raises(InvalidTransition):
                act()
    assert "auto released 0" in run(runner, T0 + timedelta(days=30))
    assert money(db, mid).held == 100000 and sales(gateway)[0]["refunded_minor"] == 0


def test_the_freelancer_may_dispute_a_funded_milestone_once(app, db, member, gateway):
    cid = signed(app, member, ["1000", "500"])
    mid = funded(app, db, gateway, cid, submit=False)
    d = opened(app, db, cid, mid, by="freelancer", amount="250")
    assert d.amount_minor == 25000 and d.from_state == "funded"
    with pytest.raises(InvalidTransition, match="in dispute"):
        opened(app, db, cid, mid, by="client")
    pending = contract(db, cid).milestones[1].id
    with pytest.raises(InvalidTransition):
        opened(app, db, cid, pending)  # not funded: nothing to dispute


def test_bad_input_is_refused_beside_its_field(app, db, member, gateway):
    cid = signed(app, member, ["1000"])
    mid = funded(app, db, gateway, cid)
    with app.test_request_context():
        with pytest.raises(ValidationFailed) as exc:
            disputes.open_dispute(contract(db, cid), mid, by="client", reason="spite", statement="")
        assert set(exc.value.errors) == {"statement"}  # the text first, then the reason
        with pytest.raises(ValidationFailed) as exc:
            disputes.open_dispute(contract(db, cid), mid, by="client", reason="quality", statement="Bad.",
                                  amount_text="1000.01")
        assert set(exc.value.errors) == {"amount"}
    assert db.session.get(Milestone, mid).state == "submitted"


# ---- deadlines ------------------------------------------------------------------

def test_a_silent_side_is_reminded_then_the_mediator_is_told(app, db, runner, member, mediator, gateway):
    cid = signed(app, member, ["1000"])
    mid = funded(app, db, gateway, cid)
    opened(app, db, cid, mid)
    assert "dispute notices 0" in run(runner, T0 + timedelta(days=5))
    assert "dispute notices 1" in run(runner, T0 + timedelta(days=6, hours=1))
    assert emails(db, "Reminder: answer the dispute") == ["fran@example.com"]
    assert "dispute notices 0" in run(runner, T0 + timedelta(days=6, hours=2))
    assert "dispute notices 1" in run(runner, T0 + timedelta(days=7, minutes=1))
    assert emails(db, "Dispute ready for your decision") == ["olga@shop.example"]
    assert "dispute notices 0" in run(runner, T0 + timedelta(days=8))


def test_the_mediator_is_told_as_soon_as_both_sides_have_spoken(app, db, runner, member, mediator, gateway):
    cid = signed(app, member, ["1000"])
    mid = funded(app, db, gateway, cid)
    d = opened(app, db, cid, mid)
    with app.test_request_context():
        disputes.say(d, by="client", body="Still waiting.")  # the opener again: no answer yet
        assert db.session.get(Dispute, d.id).responded_at is None
        disputes.say(d, by="freelancer", body="They are responsive on every phone I tried.")
    assert "dispute notices 1" in run(runner, T0 + timedelta(days=1))
    assert emails(db, "Dispute ready for your decision") == ["olga@shop.example"]
    assert emails(db, "Reminder: answer the dispute") == []


# ---- settled by the parties ------------------------------------------------------

def test_the_client_releases_after_all(app, db, member, gateway):
    cid = signed(app, member, ["1000"])
    mid = funded(app, db, gateway, cid)
    d = opened(app, db, cid, mid)
    with app.test_request_context():
        disputes.release_all(d, by="client")
    d = db.session.get(Dispute, d.id)
    assert (d.status, d.outcome, d.decided_by) == ("closed", "released", "client")
    assert (money(db, mid).released, money(db, mid).fees, money(db, mid).refunded) == (100000, 3400, 0)
    assert db.session.get(Milestone, mid).state == "released" and contract(db, cid).state == "completed"
    assert sales(gateway)[0]["status"] == "settled"  # nothing asked of the gateway


def test_the_freelancer_refunds_in_full(app, db, member, gateway):
    cid = signed(app, member, ["1000"])
    mid = funded(app, db, gateway, cid, settle=False)
    d = opened(app, db, cid, mid)
    with app.test_request_context():
        disputes.refund_all(d, by="freelancer")
    d = db.session.get(Dispute, d.id)
    assert (d.outcome, d.release_minor, d.refund_minor) == ("refunded", 0, 100000)
    assert money(db, mid).refunded == 100000 and db.session.get(Milestone, mid).state == "refunded"
    assert sales(gateway)[0]["status"] == "voided"  # unsettled and whole: cancelled, no fee for anyone


def test_a_split_offered_by_one_side_and_accepted_by_the_other(app, db, member, gateway):
    cid = signed(app, member, ["1000"])
    mid = funded(app, db, gateway, cid)
    d = opened(app, db, cid, mid)
    with app.test_request_context():
        disputes.propose_split(d, by="freelancer", release_text="600")
        with pytest.raises(InvalidTransition, match="no offer from the other side"):
            disputes.accept_split(d, by="freelancer", shown_release_minor=60000)
        disputes.propose_split(d, by="freelancer", release_text="700")  # changed after the client read it
        with pytest.raises(InvalidTransition, match="changed"):
            disputes.accept_split(d, by="client", shown_release_minor=60000)
        disputes.accept_split(d, by="client", shown_release_minor=70000)
    d = db.session.get(Dispute, d.id)
    assert (d.outcome, d.decided_by, d.release_minor, d.refund_minor) == ("split", "both", 70000, 30000)
    mm = money(db, mid)
    assert (mm.released, mm.fees, mm.refunded, mm.held) == (70000, 2380, 30000, 0)  # fee on the $700 only
    assert db.session.get(Milestone, mid).state == "split"
    assert sales(gateway)[0]["refunded_minor"] == 30000  # the client's part, refunded at the gateway


# ---- decided by the mediator ----------------------------------------------------

@pytest.mark.parametrize("currency, amount, part, fee", [
    ("USD", "1000.01", "500", 1700),     # $500.00 to the freelancer, $500.01 back; 3.4% of $500 = $17.00
    ("USD", "5.01", "2.51", 9),          # 3.4% of $2.51 = 8.534¢ → 9¢; $2.50 back
    ("JPY", "10001", "5001", 170),       # ¥5,001 × 3.4% = ¥170.034 → ¥170
])
def test_the_mediator_splits_with_odd_cents(app, db, member, mediator, gateway, currency, amount, part, fee):
    cid = signed(app, member, [amount], currency=currency)
    mid = funded(app, db, gateway, cid)
    d = opened(app, db, cid, mid)
    with app.test_request_context():
        disputes.resolve(d, mediator, kind="split", release_text=part, reason="Half the pages work.")
    m = db.session.get(Milestone, mid)
    mm = money(db, mid)
    assert mm.released + mm.refunded == m.amount_minor and mm.held == 0
    assert mm.fees == fee == round_half_up_bps(mm.released, 340)
    assert m.state == "split" and db.session.get(Dispute, d.id).decided_by == "owner"
    decision = db.session.scalars(db.select(Message).where(Message.kind == "dispute_decision")).one()
    assert decision.author == "owner" and decision.author_name == "Olga Owner" and "Half the pages work." in decision.body
    assert sorted(emails(db, "Dispute closed")) == ["carla@client-co.com", "fran@example.com", "olga@shop.example"]


def test_the_fee_of_the_whole_contract_stays_exact_across_a_split(app, db, member, mediator, gateway):
    cid = signed(app, member, ["333.33", "333.33"])
    fund_as_shown(app, cid, "all", "k-all")
    gateway.settle(sales(gateway)[0]["id"])
    m1, m2 = [m.id for m in contract(db, cid).milestones]
    with app.test_request_context():
        lifecycle.request_payment(contract(db, cid), m1, note="Done.")
        lifecycle.approve(contract(db, cid), m1)
    d = opened(app, db, cid, m2, by="freelancer")
    with app.test_request_context():
        disputes.resolve(d, mediator, kind="split", release_text="111.11", reason="A third was done.")
    total = ledger.contract_money([contract(db, cid)])[cid]
    assert total.released.minor == 44444 and total.fees.minor == round_half_up_bps(44444, 340) == 1511


@pytest.mark.parametrize("kind, state, released, refunded", [
    ("release", "released", 100000, 0), ("refund", "refunded", 0, 100000)])
def test_the_mediator_releases_or_refunds_all(app, db, member, mediator, gateway, kind, state, released, refunded):
    cid = signed(app, member, ["1000"])
    mid = funded(app, db, gateway, cid)
    d = opened(app, db, cid, mid)
    with app.test_request_context():
        with pytest.raises(ValidationFailed):
            disputes.resolve(d, mediator, kind=kind, reason="")  # a reason is owed to both sides
        disputes.resolve(d, mediator, kind=kind, reason="As agreed in the scope.")
        with pytest.raises(InvalidTransition, match="closed"):
            disputes.resolve(d, mediator, kind=kind, reason="Again.")  # twice is refused, nothing moves twice
    mm = money(db, mid)
    assert (db.session.get(Milestone, mid).state, mm.released, mm.refunded) == (state, released, refunded)
    assert db.session.scalar(db.select(db.func.count(Journal.id)).where(Journal.kind != "funding")) == 1


def test_a_member_who_is_not_the_owner_cannot_decide(app, db, member, make_member, gateway):
    cid = signed(app, member, ["1000"])
    mid = funded(app, db, gateway, cid)
    d = opened(app, db, cid, mid)
    other = make_member("otto@example.com", "Otto Other")
    with app.test_request_context(), pytest.raises(Exception, match="No such dispute"):
        disputes.resolve(d, other, kind="release", reason="Mine now.")


def test_the_owner_does_not_judge_their_own_case(app, db, mediator, gateway):
    cid = signed(app, mediator, ["1000"])  # a one-person shop: the owner is the freelancer
    mid = funded(app, db, gateway, cid)
    d = opened(app, db, cid, mid)
    assert sorted(emails(db, "Dispute opened")) == ["carla@client-co.com", "olga@shop.example"]  # once each
    with app.test_request_context():
        for kind, part in (("release", ""), ("split", "500")):
            with pytest.raises(InvalidTransition, match="your own contract"):
                disputes.resolve(d, mediator, kind=kind, release_text=part, reason="I did the work.")
        disputes.propose_split(d, by="client", release_text="400")
        with pytest.raises(InvalidTransition, match="your own contract"):
            disputes.resolve(d, mediator, kind="split", release_text="500", reason="Meet me halfway.")
        disputes.resolve(d, mediator, kind="split", release_text="400", reason="I accept the client's offer.")
    assert (money(db, mid).released, money(db, mid).refunded) == (40000, 60000)


# ---- the gateway says no, or nothing ---------------------------------------------

def test_a_split_before_the_sale_settles_is_queued_and_carried_out_when_it_settles(app, db, member, mediator,
                                                                                   gateway):
    """Braintree refunds part of a sale only once it settled: the client's part waits (queued), nothing
    moves meanwhile, and the decision is carried out when the sale settles."""
    from directcontracts.services import funding

    cid = signed(app, member, ["1000"])
    mid = funded(app, db, gateway, cid, settle=False)
    d = opened(app, db, cid, mid)
    with app.test_request_context():
        disputes.resolve(d, mediator, kind="split", release_text="500", reason="Half.")
    d = db.session.get(Dispute, d.id)
    assert d.status == "open" and d.decided_at is not None and disputes.refunding(d).status == "queued"
    assert money(db, mid).held == 100000 and db.session.get(Milestone, mid).state == "disputed"
    with app.test_request_context():
        with pytest.raises(InvalidTransition, match="being carried out"):
            disputes.say(d, by="client", body="Hello?")
    sale = sales(gateway)[0]["id"]
    gateway.settle(sale)
    with app.test_request_context():
        assert funding.mark_settled(sale) == 1
    d = db.session.get(Dispute, d.id)
    assert (d.status, d.outcome) == ("closed", "split")
    assert (money(db, mid).released, money(db, mid).refunded) == (50000, 50000)


def test_a_lost_refund_answer_keeps_the_dispute_open_until_reconciled(app, db, member, mediator, gateway):
    cid = signed(app, member, ["1000"])
    mid = funded(app, db, gateway, cid)
    d = opened(app, db, cid, mid)
    gateway.refund_fault = REFUND_ANSWER_LOST
    with app.test_request_context(), pytest.raises(lifecycle.RefundUncertain):
        disputes.resolve(d, mediator, kind="split", release_text="250", reason="A quarter was usable.")
    gateway.refund_fault = None
    d = db.session.get(Dispute, d.id)
    assert d.status == "open" and d.decided_at is not None and disputes.refunding(d) is not None
    with app.test_request_context():
        with pytest.raises(InvalidTransition, match="being carried out"):
            disputes.say(d, by="client", body="Hello?")
        refunds.reconcile(datetime.utcnow() + timedelta(minutes=5))
    d = db.session.get(Dispute, d.id)
    assert (d.status, d.outcome) == ("closed", "split")
    assert (money(db, mid).released, money(db, mid).refunded) == (25000, 75000)


# ---- twice and at once ---------------------------------------------------------------

def test_two_decisions_at_once_move_the_money_once(app, db, member, mediator, gateway, concurrent):
    cid = signed(app, member, ["1000"])
    mid = funded(app, db, gateway, cid)
    did, owner_id = opened(app, db, cid, mid).id, mediator.id  # plain ids: each thread has its own session
    outcomes = race(app, lambda: disputes.release_all(db.session.get(Dispute, did), by="client"),
                    lambda: disputes.resolve(db.session.get(Dispute, did), db.session.get(Member, owner_id),
                                             kind="refund", reason="Not delivered."))
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], InvalidTransition), outcomes
    mm = money(db, mid)
    assert mm.held == 0 and (mm.released, mm.refunded) in ((100000, 0), (0, 100000))
    assert db.session.scalar(db.select(db.func.count(Journal.id)).where(Journal.kind != "funding")) == 1


def test_a_decision_whose_refund_was_never_made_reopens_the_dispute_and_says_so(app, db, member, mediator, gateway):
    """Found in a deployment run: it was told in the words of a plain refund ("you can refund it again")."""
    from directcontracts.payments.testgateway import REFUND_UNREACHABLE
    cid = signed(app, member, ["1000"])
    mid = funded(app, db, gateway, cid)
    d = opened(app, db, cid, mid)
    gateway.refund_fault = REFUND_UNREACHABLE
    with app.test_request_context(), pytest.raises(lifecycle.RefundUncertain):
        disputes.resolve(d, mediator, kind="refund", reason="Not delivered.")
    gateway.refund_fault = None
    with app.test_request_context():
        assert refunds.reconcile(datetime.utcnow() + timedelta(minutes=15))["failed"] == 1
    d = db.session.get(Dispute, d.id)
    assert (d.status, d.decided_at, d.refund_minor) == ("open", None, None) and money(db, mid).held == 100000
    assert sorted(emails(db, "Dispute decision not carried out")) == [
        "carla@client-co.com", "fran@example.com", "olga@shop.example"]
    assert emails(db, "Refund not made") == []
    with app.test_request_context():
        disputes.resolve(d, mediator, kind="refund", reason="Not delivered.")
    assert money(db, mid).refunded == 100000 and db.session.get(Dispute, d.id).status == "closed"
