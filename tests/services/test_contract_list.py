"""The contracts list (``contract_queries.list_for_member`` / ``list_for_shop``) against the contracts themselves.

The list reads only the columns its table shows, sums each row's live milestones in SQL, and picks a page in
the older half counting from the oldest end: every page, filter and size must still give exactly the contracts,
order, totals and signatures the ORM gives, ties in last activity included.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from bench.bench import seed_bulk
from directcontracts.domain.states import LIST_STATUSES, SIGNED, ContractState
from directcontracts.models import Contract, Milestone
from directcontracts.services import contract_queries, ledger


def _expected(db, member_id, state):
    """The list as the ORM sees it: newest activity first, draft revisions left out."""
    query = db.select(Contract).where(Contract.draft_of_id.is_(None))
    if member_id is not None:
        query = query.where(Contract.member_id == member_id)
    contracts = db.session.scalars(query.order_by(Contract.last_activity_at.desc(), Contract.id.desc())).all()
    signed = contract_queries.signed_ids(contracts)
    if state == SIGNED:
        contracts = [c for c in contracts if c.state == ContractState.SENT and c.id in signed]
    elif state == ContractState.SENT:
        contracts = [c for c in contracts if c.state == ContractState.SENT and c.id not in signed]
    elif state:
        contracts = [c for c in contracts if c.state == state]
    return contracts, signed


@pytest.fixture
def shop(app, db, member, make_member, accepted_contract):
    """37 contracts of the member in every shape the bench seeds, a few with the same last activity, one with a
    cancelled milestone, one draft revision; and one contract of another member."""
    seed_bulk(app, 36)
    contracts = db.session.scalars(db.select(Contract).order_by(Contract.id)).all()
    for c in contracts[5:9]:  # a tie: the id decides
        c.last_activity_at = contracts[5].last_activity_at
    db.session.get(Milestone, contracts[-1].milestones[1].id).state = "cancelled"
    revision = Contract(ref="DRAFTREV1", member_id=member.id, client_name="X", client_email="x@example.com",
                        fee_bps=500, draft_of_id=contracts[1].id, last_activity_at=contracts[1].last_activity_at)
    db.session.add(revision)
    other = make_member("olga@example.com", "Olga Other")
    db.session.add(Contract(ref="OTHER0001", member_id=other.id, client_name="Y", client_email="y@example.com",
                            fee_bps=500, title="Other's", last_activity_at=contracts[3].last_activity_at
                            + timedelta(seconds=1)))
    db.session.commit()
    return member


@pytest.mark.parametrize("per_page", [1, 3, 7, 20, 50])
def test_every_page_lists_what_the_contracts_say(app, db, shop, per_page):
    for member_id in (shop.id, None):
        for state in (None, *LIST_STATUSES):
            expected, signed = _expected(db, member_id, state)
            money = ledger.contract_money(expected)
            pages = -(-len(expected) // per_page) or 1
            rows = []
            with app.test_request_context():
                for number in range(1, pages + 1):
                    if member_id is None:
                        page = contract_queries.list_for_shop(state, number, per_page)
                    else:
                        page = contract_queries.list_for_member(shop, state, number, per_page)
                    assert (page.page, page.pages, page.total) == (number, pages, len(expected))
                    assert len(page.items) == min(per_page, len(expected) - (number - 1) * per_page)
                    assert page.signed == {r.id for r in page.items} & signed
                    assert page.money == {r.id: money[r.id] for r in page.items}
                    rows += page.items
            assert [r.id for r in rows] == [c.id for c in expected], (member_id, state, per_page)
            for row, c in zip(rows, expected):
                assert (row.ref, row.title, row.client_name, row.client_company, row.state, row.currency,
                        row.last_activity_at, row.total) == (c.ref, c.title, c.client_name, c.client_company,
                                                             c.state, c.currency, c.last_activity_at, c.total)
                assert row.member_name == (c.member.name if member_id is None else None)


def test_a_page_past_the_end_is_the_last(app, db, shop):
    expected, _ = _expected(db, shop.id, None)
    with app.test_request_context():
        page = contract_queries.list_for_member(shop, None, 999, 10)
    assert page.page == page.pages == 4
    assert [r.id for r in page.items] == [c.id for c in expected[30:]]
