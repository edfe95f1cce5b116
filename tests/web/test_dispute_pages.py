"""Disputes over HTTP, as each party and the mediator use them (CSRF on)."""
from __future__ import annotations

import re

import pytest

from directcontracts.models import Dispute, Milestone
from tests.conftest import Client
from tests.web.builders import contract, funded_contract, request_payment, verify


@pytest.fixture
def owner(make_member):
    """The shop owner (the mediator), created before the freelancer so that the freelancer is not the owner."""
    return make_member("olga@shop.example", "Olga Owner", owner=True)


@pytest.fixture
def fran(owner, make_member):
    return make_member("fran@example.com", "Fran Freelancer", owner=False)


@pytest.fixture
def freelancer(fran, login_as):
    return login_as(fran)


@pytest.fixture
def mediator(app, owner, login_as):
    return login_as(owner, Client(app.test_client()))


@pytest.fixture
def funded(freelancer, visitor, outbox):
    """A contract of Fran's, all three milestones (1000, 2000, 500 USD) funded; the client's device verified."""
    return funded_contract(freelancer, visitor, outbox)


def milestones(db, cid) -> list[Milestone]:
    return sorted(contract(db, cid).milestones, key=lambda m: m.position)


def dispute_of(db, mid) -> Dispute:
    db.session.expire_all()
    return db.session.scalars(db.select(Dispute).where(Dispute.milestone_id == mid).order_by(Dispute.id.desc())).first()


def open_by_client(visitor, link, mid, **extra):
    data = {"reason": "not_as_agreed", "statement": "The pages are not what we agreed."} | extra
    return visitor.post(f"{link}/milestones/{mid}/dispute", data)


def open_by_freelancer(freelancer, cid, mid, **extra):
    data = {"reason": "other", "statement": "The client stopped answering."} | extra
    return freelancer.post(f"/contracts/{cid}/milestones/{mid}/dispute", data)


def test_the_three_pages_show_the_dispute(db, funded, freelancer, visitor, mediator):
    cid, link = funded
    m = milestones(db, cid)[0]
    r = open_by_client(visitor, link, m.id)
    assert r.status_code == 303, r.text
    d = dispute_of(db, m.id)
    for c, url in ((visitor, f"{link}/disputes/{d.id}"), (freelancer, f"/contracts/{cid}/disputes/{d.id}"),
                   (mediator, f"/admin/disputes/{d.id}")):
        page = c.get(url)
        assert page.status_code == 200, page.text
        assert "The pages are not what we agreed." in page.text
        assert "Olga Owner" in page.text and "olga@shop.example" in page.text
        assert "Not what was agreed" in page.text and "$1,000.00" in page.text
