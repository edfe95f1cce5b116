"""Issue 11: a model of the ledger — a hypothesis state machine over the services.

Random contracts (JPY, USD and KWD: 0, 2 and 3 decimals; amounts typed as a person would) are
sent, revised, declined, funded (one milestone or all; approved, declined, or charged with the answer
lost and reconciled), delivered, approved (by the client, automatically, or by ``jobs run-due`` days
later), refunded (void, refund, queued until the sale settles, or with the gateway's answer lost and
reconciled), disputed and decided, ended — while the gateway settles sales, declines settling them,
and the client's bank opens, wins and loses chargebacks, all told through signed webhooks.

The machine keeps its own, independent account of the money: every journal entry it expects, per
milestone, journal kind and account, computed from the documented rules (the fee of a release is
``round_half_up(rate × released kept so far) − fees already charged``, the rate being the shop's fee
when the contract was sent; a take-back draws on escrow first, then on what was released, the fee
going back with it). After every step: ``ledger.check()`` is empty, the books equal the model entry
for entry, the members' totals and the payouts report read the same from the closed days' sums as from
the entries, milestone and contract states agree, the contract's total fee is exactly
``round_half_up(rate × total released kept)`` (whenever nothing was taken back since its last
release), and the test gateway's records agree with the books (``gateway_disagreements``). A refused
action is a fine outcome exactly when the model also says it is not possible.

Budget: ``LEDGER_MODEL_EXAMPLES`` (default 25) examples of ``LEDGER_MODEL_STEPS`` (default 30)
steps; the number of examples and steps run is printed (``-s``) and written to
``$LEDGER_MODEL_REPORT`` when set.
"""
from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from flask import current_app
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, \
    run_state_machine_as_test

from directcontracts.domain.money import Money
from directcontracts.domain.states import InvalidTransition
from directcontracts.extensions import db as _db
from directcontracts.models import Contract, Dispute, Journal, LedgerEntry, Milestone, PaymentAttempt, Refund, \
    ShopSettings, utcnow
from directcontracts.payments.testgateway import REFUND_ANSWER_LOST, TestGateway
from directcontracts.services import accounts, client_actions, disputes, drafts, funding, jobs, ledger, \
    ledger_days, lifecycle, milestone_editor, payouts, proposals, refunds, webhooks
from directcontracts.services.errors import ServiceError
from tests.conftest import PASSWORD, gateway_disagreements

EXAMPLES = int(os.environ.get("LEDGER_MODEL_EXAMPLES", "25"))
STEPS = int(os.environ.get("LEDGER_MODEL_STEPS", "30"))

CURRENCIES = {"JPY": 0, "USD": 2, "KWD": 3}
ESCROW = ("funded", "submitted", "disputed")
SETTLED = ("released", "refunded", "split", "cancelled", "charged_back")
NONCES = {"approved": "fake-valid-nonce", "declined": "fake-processor-declined-visa-nonce",
          "lost": "fake-timeout-nonce"}
REFUSED = (ServiceError, InvalidTransition)

RUN = {"examples": 0, "steps": 0, "refused": 0, "rules": defaultdict(int)}


def rhu(amount: int, bps: int) -> int:
    """round_half_up(amount × bps / 10000), written independently of the app's fee code."""
    return int((Decimal(amount) * bps / 10000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def typed(minor: int, currency: str, commas: bool) -> str:
    """How a person types the amount ("1,250.50", "1500", "12.345")."""
    digits = CURRENCIES[currency]
    value = Decimal(minor).scaleb(-digits)
    return f"{value:,.{digits}f}" if commas else f"{value:.{digits}f}"


def sandbox_status(nonce_kind: str, minor: int, currency: str) -> str:
    """What Braintree's sandbox does with a sale (README, "The payment step"; sandbox test amounts)."""
    if nonce_kind == "lost":
        return "lost"  # recorded as approved whatever the amount, the answer lost
    if nonce_kind == "declined":
        return "declined"
    major = Decimal(minor).scaleb(-CURRENCIES[currency])
    if Decimal("2000") <= major < Decimal("3000"):
        return "declined"
    if Decimal("3000") <= major < Decimal("3001"):
        return "declined"  # processor network unavailable: failed, nothing charged
    if major == Decimal("5001"):
        return "declined"  # gateway rejected
    return "approved"


@dataclass
class MM:
    """The model's milestone."""

    id: int
    amount: int
    state: str = "pending"
    attempt: str | None = None  # the attempt that funded it (None while unfunded)
    held_by: str | None = None  # an attempt in flight holding it
    refund: str | None = None  # None, "queued" or "unknown" (a refund being made)
    refund_minor: int = 0
    dispute: dict | None = None  # {"id", "proposal": (by, part) | None, "decided": (release, refund) | None}


@dataclass
class CM:
    """The model's contract."""

    id: int
    currency: str
    fee_bps: int
    milestones: list[MM]
    state: str = "sent"
    unknown_attempt: str | None = None
    last_key: str | None = None
    signed: bool = False  # the client signed the revision they see (a fund form was submitted)
    draft_id: int | None = None  # the freelancer's draft revision of it (not sent), if any

    @property
    def revisable(self) -> bool:
        """A draft revision can be sent over it: a proposal waiting for an answer, not signed (or changes asked)."""
        return self.state == "changes_requested" or (self.state == "sent" and not self.signed)
    taken_since_release: bool = False


@dataclass
class Sale:
    attempt: str
    tx: str
    amount: int
    contract: int
    mids: list[int]
    status: str = "submitted_for_settlement"  # settled, voided, settlement_declined
    chargeback: str | None = None  # open, won, lost
    chargeback_minor: int = 0


class LedgerModel(RuleBasedStateMachine):
    def __init__(self, app):
        super().__init__()
        self.app = app
        RUN["examples"] += 1
        clean_tables()
        self.gw = TestGateway()
        app.extensions["gateway"] = self.gw
        self.owner = accounts.create_member("olga@shop.example", "Olga Owner", PASSWORD, owner=True)
        self.fran = accounts.create_member("fran@example.com", "Fran Freelancer", PASSWORD, owner=False)
        self.contracts: list[CM] = []
        self.sales: dict[str, Sale] = {}  # by attempt id
        self.books: dict[tuple[int, str, str], int] = defaultdict(int)
        self.fee_bps = 340
        self.keys = 0

    # ---- helpers ---------------------------------------------------------------------------

    def step(self, name: str) -> None:
        RUN["steps"] += 1
        RUN["rules"][name] += 1

    def ctx(self):
        return self.app.test_request_context()

    def row(self, c: CM) -> Contract:
        _db.session.expire_all()
        return _db.session.get(Contract, c.id)

    def pick(self, i: int, wanted=lambda c: True) -> CM:
        """A contract: for i < 3 one the model thinks the action suits (if any), else any (to be refused)."""
        suited = [c for c in self.contracts if wanted(c)]
        pool = suited if i < 3 and suited else self.contracts
        return pool[i % len(pool)]

    def pick_m(self, i: int, j: int, wanted=lambda m: True) -> tuple[CM, MM]:
        """A milestone, the same way: mostly one the action suits, sometimes any."""
        pairs = [(c, m) for c in self.contracts for m in c.milestones]
        suited = [(c, m) for c, m in pairs if wanted(m)]
        pool = suited if i < 3 and suited else pairs
        return pool[(i * 3 + j) % len(pool)]

    def mm(self, mid: int) -> tuple[CM, MM]:
        for c in self.contracts:
            for m in c.milestones:
                if m.id == mid:
                    return c, m
        raise KeyError(mid)

    def sale_of(self, m: MM) -> Sale | None:
        return self.sales.get(m.attempt) if m.attempt else None

    def frozen(self, m: MM) -> bool:
        s = self.sale_of(m)
        return s is not None and s.chargeback == "open"

    def attempt_(self, outcome, expected: bool, what: str):
        """Run ``outcome`` (a callable); return (ok, result). The app and the model must agree on
        whether the action is possible."""
        try:
            with self.ctx():
                result = outcome()
        except REFUSED as exc:
            _db.session.rollback()
            RUN["refused"] += 1
            assert not expected, f"{what}: the model says possible, the app refused: {type(exc).__name__}: {exc}"
            return False, exc
        assert expected, f"{what}: the model says impossible, the app did it"
        return True, result

    def post(self, mid: int, kind: str, **accounts_):
        for account, amount in accounts_.items():
            if amount:
                self.books[(mid, kind, account)] += amount

    def released_kept(self, c: CM) -> int:
        total = 0
        for (mid, kind, account), amount in self.books.items():
            if any(m.id == mid for m in c.milestones):
                if kind == "release" and account == "escrow":
                    total -= amount
                if kind in ("chargeback", "reversal") and account in ("freelancer", "fees"):
                    total += amount
        return total

    def fees_net(self, c: CM, mid: int | None = None) -> int:
        ids = {m.id for m in c.milestones} if mid is None else {mid}
        return sum(a for (m, _k, acc), a in self.books.items() if m in ids and acc == "fees")

    def kept_of(self, mid: int) -> int:
        released = -self.books.get((mid, "release", "escrow"), 0)
        clawed = -sum(self.books.get((mid, k, a), 0) for k in ("chargeback", "reversal")
                      for a in ("freelancer", "fees"))
        return released - clawed

    def held(self, mid: int) -> int:
        return sum(a for (m, _k, acc), a in self.books.items() if m == mid and acc == "escrow")

    def release(self, c: CM, m: MM, gross: int) -> None:
        """Post a release the way the documented rule says: the fee makes the cumulative total exact."""
        if not gross:
            return
        fee = rhu(self.released_kept(c) + gross, c.fee_bps) - self.fees_net(c)
        assert 0 <= fee <= gross
        self.post(m.id, "release", escrow=-gross, freelancer=gross - fee, fees=fee)
        c.taken_since_release = False

    def complete(self, c: CM) -> None:
        if c.state == "active" and all(m.state in SETTLED for m in c.milestones):
            c.state = "completed"

    def refund_posted(self, c: CM, m: MM) -> None:
        """A refund of ``m`` (its own, or the one carrying out its dispute's decision) went through."""
        self.post(m.id, "refund", escrow=-m.refund_minor, client=m.refund_minor)
        s = self.sale_of(m)
        if m.dispute is not None:
            release_minor, _ = m.dispute["decided"]
            self.release(c, m, release_minor)
            m.state = "refunded" if release_minor == 0 else "split"
            m.dispute = None
        else:
            m.state = "refunded"
        if s is not None and s.status == "submitted_for_settlement" and m.refund_minor == s.amount:
            s.status = "voided"
        m.refund, m.refund_minor = None, 0
        self.complete(c)

    def start_refund(self, c: CM, m: MM, amount: int, lost: bool) -> str:
        """What asking for a refund of ``amount`` of ``m`` does: "posted", "queued" or "unknown"."""
        s = self.sale_of(m)
        m.refund_minor = amount
        if amount != s.amount and s.status != "settled":
            m.refund = "queued"
            return "queued"
        if lost:
            m.refund = "unknown"
            if s.status == "submitted_for_settlement":
                s.status = "voided"
            return "unknown"
        self.refund_posted(c, m)
        return "posted"

    def take_back(self, c: CM, s: Sale, amount: int, kind: str, action_state: str | None) -> None:
        """A lost chargeback or a declined settlement gives the client ``amount`` of sale ``s`` back:
        escrow first (whole milestones), then what was released (the fee going back with it)."""
        ms = [self.mm(mid)[1] for mid in s.mids]
        ms.sort(key=lambda m: [x.id for x in c.milestones].index(m.id))
        in_escrow = [(m, self.held(m.id)) for m in ms if m.state in ESCROW]
        left = amount
        assert sum(h for _m, h in in_escrow) <= left, "model scope: escrow of the sale covered by the take-back"
        for m, h in in_escrow:
            if h:
                self.post(m.id, kind, escrow=-h, client=h)
                left -= h
        for m in ms:
            kept = self.kept_of(m.id)
            part = min(left, kept)
            if part:
                fee_now = self.fees_net(c, m.id)
                fee = fee_now if part == kept else int(
                    (Decimal(fee_now) * part / kept).quantize(Decimal(1), rounding=ROUND_HALF_UP))
                self.post(m.id, kind, client=part, freelancer=-(part - fee), fees=-fee)
                left -= part
                c.taken_since_release = True
        if left:
            self.post(ms[0].id, kind, shop=-left, client=left)
        for m, h in in_escrow:
            m.dispute = None
            if m.refund == "queued":
                m.refund, m.refund_minor = None, 0
            if kind == "reversal":
                m.state, m.attempt = "pending", None
            else:
                m.state = "charged_back"
        self.complete(c)

    def new_key(self) -> str:
        self.keys += 1
        return f"key-{self.keys}"

    # ---- setup -----------------------------------------------------------------------------

    @initialize(bps=st.sampled_from([340, 0, 1, 250, 999, 1000, 2900]))
    def shop_fee(self, bps):
        self.step("shop_fee")
        ShopSettings.get().fee_bps = bps
        _db.session.commit()
        self.fee_bps = bps

    @precondition(lambda self: self.contracts)
    @rule(bps=st.sampled_from([340, 0, 1, 999, 2900]))
    def change_shop_fee(self, bps):
        """The owner changes the fee: contracts keep the rate they were sent with."""
        self.step("change_shop_fee")
        ShopSettings.get().fee_bps = bps
        _db.session.commit()
        self.fee_bps = bps

    @initialize(currency=st.sampled_from(sorted(CURRENCIES)), data=st.data())
    def first_contract(self, currency, data):
        self.send_contract(currency, data)

    @precondition(lambda self: len(self.contracts) < 3)
    @rule(currency=st.sampled_from(sorted(CURRENCIES)), data=st.data())
    def send_contract(self, currency, data):
        self.step("send_contract")
        digits = CURRENCIES[currency]
        unit = 10 ** digits
        amount = st.one_of(st.integers(5 * unit, 1500 * unit),
                           st.sampled_from([5 * unit, 1000 * unit, 1000 * unit + 1, 999 * unit + unit // 2 if
                                            unit > 1 else 999]))
        amounts = data.draw(st.lists(amount, min_size=1, max_size=3), label="amounts")
        commas = data.draw(st.booleans(), label="commas")
        with self.ctx():
            c = drafts.create_draft(self.fran, client_name="Carla Client", client_email="carla@client-co.com")
            drafts.update_terms(c, title="Website", scope="", currency=currency, kind="milestones")
            for n, minor in enumerate(amounts, 1):
                milestone_editor.add_milestone(c, {"title": f"Milestone {n}", "amount": typed(minor, currency,
                                                                                             commas)})
            proposals.send(c, self.fran)
            c = self.row(CM(c.id, currency, 0, []))
            got = [m.amount_minor for m in c.milestones]
        assert got == amounts, f"typed {[typed(a, currency, commas) for a in amounts]}, stored {got}"
        assert c.fee_bps == self.fee_bps
        self.contracts.append(CM(c.id, currency, self.fee_bps, [MM(m.id, m.amount_minor) for m in c.milestones]))

    # ---- the client's answer and the freelancer's revision ----------------------------------

    @precondition(lambda self: self.contracts)
    @rule(i=st.integers(0, 5), kind=st.sampled_from(["changes", "changes", "decline"]))
    def client_replies(self, i, kind):
        self.step("client_replies")
        c = self.pick(i, lambda c: c.state == "sent")
        ok, _ = self.attempt_(lambda: client_actions.reply(self.row(c), kind, "Not now, thanks."),
                              c.state == "sent" and c.unknown_attempt is None, f"reply {kind}")
        if ok:
            c.state = "declined" if kind == "decline" else "changes_requested"

    def start_revision_(self, c: CM) -> bool:
        # a draft revision of a proposal the client signed (a declined payment) is refused: they agreed to it;
        # one already started is returned as it is (its pages say whether it can still be sent)
        possible = (c.draft_id is not None or c.revisable) and c.unknown_attempt is None
        ok, draft = self.attempt_(lambda: proposals.revise(self.row(c), self.fran).id, possible, "revise")
        if ok:
            assert c.draft_id in (None, draft)
            c.draft_id = draft
        return ok

    def send_revision_(self, c: CM) -> None:
        """The draft revision lands only on a proposal still waiting for the client, with no payment in flight;
        refused, it stays (until discarded)."""
        ok, _ = self.attempt_(lambda: proposals.send(_db.session.get(Contract, c.draft_id), self.fran),
                              c.revisable and c.unknown_attempt is None, "send revision")
        if ok:
            c.state, c.fee_bps = "sent", self.fee_bps  # a new revision snapshots the shop's rate now
            c.signed, c.draft_id = False, None

    @precondition(lambda self: self.contracts)
    @rule(i=st.integers(0, 5))
    def revise_and_resend(self, i):
        self.step("revise_and_resend")
        c = self.pick(i, lambda c: c.state in ("sent", "changes_requested"))
        if self.start_revision_(c):
            self.send_revision_(c)

    @precondition(lambda self: self.contracts)
    @rule(i=st.integers(0, 5))
    def start_revision(self, i):
        """A draft revision left open while the client signs, funds, declines... (sent later, or discarded)."""
        self.step("start_revision")
        self.start_revision_(self.pick(i, lambda c: c.state in ("sent", "changes_requested")))

    @precondition(lambda self: any(c.draft_id for c in self.contracts))
    @rule(i=st.integers(0, 5), discard=st.booleans())
    def send_or_discard_revision(self, i, discard):
        self.step("discard_revision" if discard else "send_revision")
        c = self.pick(i, lambda c: c.draft_id is not None)
        if c.draft_id is None:
            return
        if discard:  # the freelancer's alone: always possible, the contract untouched
            ok, _ = self.attempt_(lambda: proposals.discard_revision(self.row(c), self.fran), True, "discard")
            c.draft_id = None
        else:
            self.send_revision_(c)

    # ---- funding ------------------------------------------------------------------------------

    @precondition(lambda self: self.contracts)
    @rule(i=st.integers(0, 5), choice=st.sampled_from(["first", "all", "second", "third"]),
          how=st.sampled_from(["approved", "approved", "approved", "declined", "lost"]))
    def fund(self, i, choice, how):
        self.step("fund")
        c = self.pick(i, lambda c: c.state in ("sent", "active") and any(m.state == "pending" for m in c.milestones))
        available = [m for m in c.milestones if m.state == "pending" and m.held_by is None]
        chosen = {"first": available[:1], "all": available,
                  "second": available[1:2], "third": available[2:3]}[choice]
        possible = c.state in ("sent", "active") and c.unknown_attempt is None and bool(chosen)
        key = self.new_key()

        def go():
            row = self.row(c)
            if choice in ("first", "all"):
                code = choice
            else:
                code = f"m{chosen[0].id}" if chosen else "m999999"
            shown = funding.quotes(row)[code].encode() if possible else "r1;1:1;USD"
            return funding.fund(row, key=key, choice=code, shown=shown, nonce=NONCES[how],
                                signature={"signer_name": "Carla Client", "agreed": True, "ip": "127.0.0.1",
                                           "user_agent": "model"})

        ok, attempt = self.attempt_(go, possible, f"fund {choice} ({how})")
        if not ok:
            return
        c.last_key = key
        c.signed = True  # signed in the transaction that started the payment, whatever its outcome
        total = sum(m.amount for m in chosen)
        outcome = sandbox_status(how, total, c.currency)
        expected_status = {"approved": "succeeded", "declined": None, "lost": "unknown"}[outcome]
        if expected_status is None:
            assert attempt.status in ("declined", "failed", "rejected"), attempt.status
            return
        assert attempt.status == expected_status, (attempt.status, attempt.message)
        assert attempt.amount_minor == total
        if outcome == "lost":
            c.unknown_attempt = attempt.id
            for m in chosen:
                m.held_by = attempt.id
            return
        self.funded(c, attempt.id, attempt.transaction_id, chosen)

    def funded(self, c: CM, attempt_id: str, tx: str, chosen: list[MM]) -> None:
        self.sales[attempt_id] = Sale(attempt_id, tx, sum(m.amount for m in chosen), c.id, [m.id for m in chosen])
        for m in chosen:
            m.state, m.attempt, m.held_by = "funded", attempt_id, None
            self.post(m.id, "funding", escrow=m.amount, client=-m.amount)
        c.state = "active"

    @precondition(lambda self: any(c.last_key for c in self.contracts))
    @rule(i=st.integers(0, 5))
    def fund_again_with_the_same_form(self, i):
        """A repeated submit returns the first attempt and charges nothing more."""
        self.step("fund_again")
        c = self.pick(i)
        if not c.last_key:
            return
        before = len(self.gw_sales())
        with self.ctx():
            attempt = funding.fund(self.row(c), key=c.last_key, choice="all", shown="", nonce="fake-valid-nonce")
        assert attempt.idempotency_key == c.last_key
        assert len(self.gw_sales()) == before

    def gw_sales(self):
        with self.gw.store.locked() as data:
            return [t for t in data.get("transactions", {}).values() if t["type"] == "sale"]

    def reconciled_payments(self) -> None:
        """What reconciling does to payments whose answer was lost: the gateway has the sale, so funded."""
        for c in self.contracts:
            if c.unknown_attempt:
                found = self.gw.find_by_order_id(c.unknown_attempt)
                chosen = [m for m in c.milestones if m.held_by == c.unknown_attempt]
                self.funded(c, c.unknown_attempt, found.transaction_id, chosen)
                c.unknown_attempt = None

    @precondition(lambda self: any(c.unknown_attempt for c in self.contracts))
    @rule()
    def reconcile_payments(self):
        self.step("reconcile_payments")
        with self.ctx():
            funding.reconcile(now=utcnow() + timedelta(minutes=15))
        self.reconciled_payments()

    # ---- delivery and release -----------------------------------------------------------------

    @precondition(lambda self: self.contracts)
    @rule(i=st.integers(0, 5), j=st.integers(0, 2))
    def request_payment(self, i, j):
        self.step("request_payment")
        c, m = self.pick_m(i, j, lambda m: m.state == "funded")
        ok, _ = self.attempt_(lambda: lifecycle.request_payment(self.row(c), m.id, note="Done."),
                              m.state == "funded" and not self.frozen(m) and m.refund is None, "request payment")
        if ok:
            m.state = "submitted"

    @precondition(lambda self: self.contracts)
    @rule(i=st.integers(0, 5), j=st.integers(0, 2))
    def client_requests_changes(self, i, j):
        self.step("client_requests_changes")
        c, m = self.pick_m(i, j, lambda m: m.state == "submitted")
        ok, _ = self.attempt_(lambda: lifecycle.client_request_changes(self.row(c), m.id, message="Not yet."),
                              m.state == "submitted" and m.refund is None, "client requests changes")
        if ok:
            m.state = "funded"

    def releasable(self, m: MM) -> bool:
        return m.state == "submitted" and not self.frozen(m) and m.refund is None

    @precondition(lambda self: self.contracts)
    @rule(i=st.integers(0, 5), j=st.integers(0, 2), automatic=st.booleans())
    def approve(self, i, j, automatic):
        self.step("approve")
        c, m = self.pick_m(i, j, lambda m: m.state == "submitted")
        expected = self.releasable(m) or m.state == "released"  # approving twice changes nothing
        ok, _ = self.attempt_(lambda: lifecycle.approve(self.row(c), m.id, automatic=automatic),
                              expected, "approve")
        if ok and m.state != "released":
            self.release(c, m, m.amount)
            m.state = "released"
            self.complete(c)

    @precondition(lambda self: any(c.state == "active" for c in self.contracts))
    @rule(days=st.sampled_from([1, 15]))
    def run_jobs(self, days):
        """``jobs run-due`` later: auto-release after 14 days, reconciliation, queued refunds of settled
        sales."""
        self.step("run_jobs")
        with self.ctx():
            report = jobs.run_due(now=utcnow() + timedelta(days=days))
        assert report.failures == [], report.failures
        if days >= 14:
            for c in self.contracts:
                for m in c.milestones:
                    if self.releasable(m):
                        self.release(c, m, m.amount)
                        m.state = "released"
                        self.complete(c)
        self.reconciled_payments()
        self.reconciled_refunds()
        for c in self.contracts:
            for m in c.milestones:
                s = self.sale_of(m)
                if m.refund == "queued" and s.status == "settled" and not self.frozen(m):
                    self.refund_posted(c, m)

    # ---- refunds ------------------------------------------------------------------------------

    @precondition(lambda self: self.contracts)
    @rule(i=st.integers(0, 5), j=st.integers(0, 2), lost=st.booleans())
    def refund(self, i, j, lost):
        self.step("refund")
        c, m = self.pick_m(i, j, lambda m: m.state in ("funded", "submitted"))
        expected = m.state in ("funded", "submitted") and not self.frozen(m) and m.refund is None
        self.gw.refund_fault = REFUND_ANSWER_LOST if lost else None
        try:
            try:
                with self.ctx():
                    lifecycle.refund(self.row(c), m.id, reason="Cannot do it.")
            except lifecycle.RefundUncertain:
                _db.session.rollback()
                assert expected and self.start_refund(c, m, m.amount, lost) == "unknown"
                return
            except REFUSED as exc:
                _db.session.rollback()
                RUN["refused"] += 1
                assert not expected, f"refund: the model says possible, the app refused: {exc}"
                return
        finally:
            self.gw.refund_fault = None
        assert expected, "refund: the model says impossible, the app did it"
        assert self.start_refund(c, m, m.amount, lost) in ("posted", "queued")

    def reconciled_refunds(self) -> None:
        for c in self.contracts:
            for m in c.milestones:
                if m.refund == "unknown":
                    self.refund_posted(c, m)

    @precondition(lambda self: any(m.refund == "unknown" for c in self.contracts for m in c.milestones))
    @rule()
    def reconcile_refunds(self):
        self.step("reconcile_refunds")
        with self.ctx():
            refunds.reconcile(now=utcnow() + timedelta(minutes=15))
        self.reconciled_refunds()

    # ---- ending -------------------------------------------------------------------------------

    @precondition(lambda self: self.contracts)
    @rule(i=st.integers(0, 5))
    def end(self, i):
        self.step("end")
        c = self.pick(i, lambda c: c.state == "active")
        held = [m for m in c.milestones if m.state in ESCROW and m.refund != "queued"]
        ok, _ = self.attempt_(lambda: lifecycle.end(self.row(c)),
                              c.state == "active" and c.unknown_attempt is None and not held, "end")
        if ok:
            for m in c.milestones:
                if m.state == "pending":
                    m.state = "cancelled"
            if not any(m.refund == "queued" for m in c.milestones):
                c.state = "ended"

    # ---- disputes -----------------------------------------------------------------------------

    @precondition(lambda self: self.contracts)
    @rule(i=st.integers(0, 5), j=st.integers(0, 2), by=st.sampled_from(["client", "freelancer"]))
    def open_dispute(self, i, j, by):
        self.step("open_dispute")
        c, m = self.pick_m(i, j, lambda m: m.state in ("funded", "submitted"))
        ok, d = self.attempt_(
            lambda: disputes.open_dispute(self.row(c), m.id, by=by, reason="quality", statement="Not good."),
            m.state in ("funded", "submitted") and not self.frozen(m) and m.refund is None, "open dispute")
        if ok:
            m.state, m.dispute = "disputed", {"id": d.id, "proposal": None, "decided": None}

    def open_disputes(self) -> list[tuple[CM, MM]]:
        return [(c, m) for c in self.contracts for m in c.milestones if m.dispute is not None]

    def dispute_row(self, m: MM) -> Dispute:
        _db.session.expire_all()
        return _db.session.get(Dispute, m.dispute["id"])

    @precondition(lambda self: self.open_disputes())
    @rule(k=st.integers(0, 5), by=st.sampled_from(["client", "freelancer"]), data=st.data())
    def propose_split(self, k, by, data):
        self.step("propose_split")
        c, m = self.open_disputes()[k % len(self.open_disputes())]
        if m.amount < 2:
            return
        part = data.draw(st.integers(1, m.amount - 1), label="release part")
        ok, _ = self.attempt_(lambda: disputes.propose_split(self.dispute_row(m), by=by,
                                                             release_text=typed(part, c.currency, False)),
                              m.dispute["decided"] is None, "propose split")
        if ok:
            m.dispute["proposal"] = (by, part)

    def decide(self, c: CM, m: MM, call, release_minor: int | None, lost: bool, what: str) -> None:
        expected = (release_minor is not None and m.dispute["decided"] is None and not self.frozen(m)
                    and m.refund is None)
        self.gw.refund_fault = REFUND_ANSWER_LOST if lost else None
        try:
            try:
                with self.ctx():
                    call()
            except lifecycle.RefundUncertain:
                _db.session.rollback()
                assert expected, f"{what}: uncertain, the model says impossible"
                m.dispute["decided"] = (release_minor, m.amount - release_minor)
                assert self.start_refund(c, m, m.amount - release_minor, lost) == "unknown"
                return
            except REFUSED as exc:
                _db.session.rollback()
                RUN["refused"] += 1
                assert not expected, f"{what}: the model says possible, the app refused: {exc}"
                return
        finally:
            self.gw.refund_fault = None
        assert expected, f"{what}: the model says impossible, the app did it"
        m.dispute["decided"] = (release_minor, m.amount - release_minor)
        if release_minor == m.amount:
            self.release(c, m, release_minor)
            m.state, m.dispute = "released", None
            self.complete(c)
        else:
            assert self.start_refund(c, m, m.amount - release_minor, lost) in ("posted", "queued")

    @precondition(lambda self: self.open_disputes())
    @rule(k=st.integers(0, 5), by=st.sampled_from(["client", "freelancer"]), lost=st.booleans())
    def accept_split(self, k, by, lost):
        self.step("accept_split")
        c, m = self.open_disputes()[k % len(self.open_disputes())]
        proposal = m.dispute["proposal"]
        part = proposal[1] if proposal and proposal[0] != by else None
        self.decide(c, m, lambda: disputes.accept_split(self.dispute_row(m), by=by,
                                                        shown_release_minor=part if part is not None else -1),
                    part, lost, "accept split")

    @precondition(lambda self: self.open_disputes())
    @rule(k=st.integers(0, 5), kind=st.sampled_from(["release", "refund", "split"]), lost=st.booleans(),
          data=st.data())
    def mediator_resolves(self, k, kind, lost, data):
        self.step("mediator_resolves")
        c, m = self.open_disputes()[k % len(self.open_disputes())]
        part = {"release": m.amount, "refund": 0}.get(kind)
        if part is None:
            if m.amount < 2:
                return
            part = data.draw(st.integers(1, m.amount - 1), label="mediator's part")
        text = typed(part, c.currency, True) if kind == "split" else ""
        self.decide(c, m, lambda: disputes.resolve(self.dispute_row(m), self.owner, kind=kind,
                                                   reason="Decided.", release_text=text),
                    part, lost, f"resolve {kind}")

    # ---- the gateway's news: settlement, declined settlement, chargebacks ---------------------------

    def live_sales(self, *statuses) -> list[Sale]:
        return [s for s in self.sales.values() if s.status in statuses]

    def hook(self, signed) -> None:
        with self.ctx():
            row = webhooks.receive(*signed)
        assert row.status in ("applied", "ignored"), (row.status, row.message)

    @precondition(lambda self: self.live_sales("submitted_for_settlement"))
    @rule(k=st.integers(0, 5), told=st.booleans())
    def sale_settles(self, k, told):
        """The nightly batch settles a sale; the webhook tells it (or is lost: run-due looks it up)."""
        self.step("sale_settles")
        sales = self.live_sales("submitted_for_settlement")
        s = sales[k % len(sales)]
        self.gw.settle(s.tx)
        s.status = "settled"
        if told:
            self.hook(self.gw.sample_webhook("transaction_settled", s.tx))
            c = next(c for c in self.contracts if c.id == s.contract)
            for mid in s.mids:
                _c, m = self.mm(mid)
                if m.refund == "queued" and m.attempt == s.attempt:
                    self.refund_posted(c, m)

    @precondition(lambda self: self.live_sales("submitted_for_settlement"))
    @rule(k=st.integers(0, 5))
    def settlement_declined(self, k):
        self.step("settlement_declined")
        sales = self.live_sales("submitted_for_settlement")
        s = sales[k % len(sales)]
        self.gw.decline_settlement(s.tx)
        self.hook(self.gw.sample_webhook("transaction_settlement_declined", s.tx))
        s.status = "settlement_declined"
        c = next(c for c in self.contracts if c.id == s.contract)
        refunded = sum(self.books.get((mid, "refund", "client"), 0) for mid in s.mids)
        self.take_back(c, s, s.amount - refunded, "reversal", None)

    def chargeable(self) -> list[Sale]:
        """Settled sales with no refund being made or waiting (the model's scope for chargebacks)."""
        out = []
        for s in self.live_sales("settled"):
            ms = [self.mm(mid)[1] for mid in s.mids]
            if s.chargeback in (None, "open") and not any(m.refund for m in ms if m.attempt == s.attempt):
                out.append(s)
        return out

    def gw_refunded(self, s: Sale) -> int:
        with self.gw.store.locked() as data:
            return data["transactions"][s.tx]["refunded_minor"]

    @precondition(lambda self: self.chargeable())
    @rule(k=st.integers(0, 5), status=st.sampled_from(["open", "open", "won", "lost", "accepted"]))
    def chargeback(self, k, status):
        """The client's bank disputes a settled sale (for what was not refunded), then decides."""
        self.step("chargeback")
        sales = self.chargeable()
        s = sales[k % len(sales)]
        if s.chargeback is None:
            s.chargeback_minor = s.amount - self.gw_refunded(s)
            if s.chargeback_minor <= 0:
                return
        elif status == "open":
            return
        self.hook(self.gw.dispute(s.tx, status, amount_minor=s.chargeback_minor))
        c = next(c for c in self.contracts if c.id == s.contract)
        if status == "open":
            s.chargeback = "open"
        elif status == "won":
            s.chargeback = "won"
        else:
            s.chargeback = "lost"
            self.take_back(c, s, s.chargeback_minor, "chargeback", None)

    # ---- after every step -----------------------------------------------------------------------

    @invariant()
    def the_books_agree(self):
        _db.session.rollback()
        _db.session.expire_all()
        assert ledger.check() == []
        assert gateway_disagreements(self.gw) == []
        rows = _db.session.execute(
            _db.select(LedgerEntry.milestone_id, Journal.kind, LedgerEntry.account,
                       _db.func.sum(LedgerEntry.amount_minor))
            .join(Journal, Journal.id == LedgerEntry.journal_id)
            .group_by(LedgerEntry.milestone_id, Journal.kind, LedgerEntry.account)).all()
        books = {(mid, kind, account): int(total) for mid, kind, account, total in rows if int(total)}
        expected = {k: v for k, v in self.books.items() if v}
        assert books == expected, _diff(books, expected)
        for c in self.contracts:
            row = _db.session.get(Contract, c.id)
            assert row.state == c.state, f"contract {c.id}: app {row.state}, model {c.state}"
            assert row.fee_bps == c.fee_bps
            for m in c.milestones:
                mrow = _db.session.get(Milestone, m.id)
                assert mrow.state == m.state, f"milestone {m.id}: app {mrow.state}, model {m.state}"
                assert self.held(m.id) == (m.amount if m.state in ESCROW else 0), f"milestone {m.id} escrow"
                refund = _db.session.scalar(_db.select(Refund.status).where(
                    Refund.milestone_id == m.id, Refund.status.in_(("queued", "pending", "unknown"))))
                assert refund == m.refund, f"milestone {m.id}: refund {refund}, model {m.refund}"
            escrow = sum(self.held(m.id) for m in c.milestones)
            assert escrow >= 0
            money = ledger.contract_money([row])[c.id]
            assert money.in_escrow.minor == escrow
            if not c.taken_since_release:
                # The documented fee rule, over the whole contract: no cent drifts across releases.
                assert self.fees_net(c) == rhu(self.released_kept(c), c.fee_bps), \
                    f"contract {c.id}: fees {self.fees_net(c)} ≠ round_half_up({c.fee_bps} bps × " \
                    f"{self.released_kept(c)})"
            for s in self.sales.values():
                a = _db.session.get(PaymentAttempt, s.attempt)
                assert a.transaction_id == s.tx
        # The closed days' sums (services.ledger_days) give the member's totals and the payouts report the
        # entries give: every day so far summed (as if it had closed), in a transaction rolled back after.
        members = _db.session.scalars(_db.select(Contract.member_id).distinct()).all()
        live = ({m: ledger.member_money(m) for m in members}, payouts.report())
        ledger_days._sum_days(ledger_days._locked_settings(), utcnow().date() + timedelta(days=1))
        assert ({m: ledger.member_money(m) for m in members}, payouts.report()) == live
        _db.session.rollback()


def _diff(books: dict, expected: dict) -> str:
    keys = sorted(set(books) | set(expected))
    return "books vs model: " + "; ".join(f"{k}: {books.get(k)} vs {expected.get(k)}" for k in keys
                                           if books.get(k) != expected.get(k))


def clean_tables() -> None:
    """Empty every table, as the ``db`` fixture does between tests (each example starts afresh)."""
    _db.session.rollback()
    _db.session.remove()
    for table in reversed(_db.metadata.sorted_tables):
        _db.session.execute(table.delete())
    _db.session.commit()
    _db.session.remove()
    current_app.extensions.pop(accounts.MEMBERS_EXIST, None)


@pytest.fixture
def kwd_allowed(monkeypatch):
    """KWD (three decimals) is not among the currencies the form offers; the money code is generic, so
    the model also writes contracts in it (through the same service, with the list widened)."""
    monkeypatch.setattr(drafts, "SUPPORTED_CURRENCIES", tuple(drafts.SUPPORTED_CURRENCIES) + ("KWD",))


def test_the_ledger_follows_the_model(app, db, kwd_allowed, capsys):
    previous = app.extensions["gateway"]
    before = dict(examples=RUN["examples"], steps=RUN["steps"])
    try:
        run_state_machine_as_test(
            lambda: LedgerModel(app),
            settings=settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
                              suppress_health_check=list(HealthCheck), print_blob=True))
    finally:
        app.extensions["gateway"] = previous
        clean_tables()
        examples, steps = RUN["examples"] - before["examples"], RUN["steps"] - before["steps"]
        line = (f"ledger model: {examples} examples, {steps} steps ({RUN['refused']} refused as the model "
                f"predicted); by rule: {dict(sorted(RUN['rules'].items()))}")
        with capsys.disabled():
            print("\n" + line)
        if os.environ.get("LEDGER_MODEL_REPORT"):
            with open(os.environ["LEDGER_MODEL_REPORT"], "a") as out:
                out.write(line + "\n")


# ---- what the model found -------------------------------------------------------------------------

@pytest.mark.parametrize("currency, amount, bps", [("JPY", "5", 1), ("USD", "1000", 0)])
def test_a_release_whose_fee_rounds_to_nothing_is_posted(app, db, member, currency, amount, bps):
    """Found by the model: ¥5 at 0.01% (a fee of ¥0.0005 → ¥0), or any release at a 0% shop fee, made
    ``approve`` fail on the ledger's no-zero-entry constraint (the release posted a zero fee entry)."""
    from tests.services.conftest import fund_as_shown

    ShopSettings.get().fee_bps = bps
    _db.session.commit()
    with app.test_request_context():
        c = drafts.create_draft(member, client_name="Carla Client", client_email="carla@client-co.com")
        drafts.update_terms(c, title="Website", scope="", currency=currency, kind="milestones")
        milestone_editor.add_milestone(c, {"title": "All of it", "amount": amount})
        proposals.send(c, member)
        client_actions.accept(c, signer_name="Carla Client", agreed=True, ip="127.0.0.1", user_agent="pytest")
        cid, mid = c.id, c.milestones[0].id
    fund_as_shown(app, cid, "first", "k-1")
    with app.test_request_context():
        lifecycle.request_payment(_db.session.get(Contract, cid), mid, note="Done.")
        lifecycle.approve(_db.session.get(Contract, cid), mid)
    money = ledger.contract_money([_db.session.get(Contract, cid)])[cid]
    assert money.fees.minor == 0 and money.received == money.released and money.in_escrow.minor == 0
    assert _db.session.get(Milestone, mid).state == "released"
