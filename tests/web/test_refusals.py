"""Refusals and missing things answer the same way from every view.

An htmx request the state machine refuses gets a 409 notice retargeted to the
page's flash area (``#notices``), so the row, form or list it came from stays
as the server kept it; a plain POST gets the reason flashed and a 303 back.
A milestone or contract that is not there is a 404, a notice for htmx too.
"""
from __future__ import annotations

import pytest

from tests.web.builders import contract, milestone_contract, send


def assert_notice(r, status: int, text: str):
    assert r.status_code == status, r.text
    assert r.headers["HX-Retarget"] == "#notices" and r.headers["HX-Reswap"] == "innerHTML"
    assert text in r.text and "<html" not in r.text and "<li" not in r.text


@pytest.fixture
def sent(logged_in, db):
    """A contract with two milestones, sent: its milestones can no longer be edited."""
    cid = milestone_contract(logged_in, amounts=("1000", "2000"))
    send(logged_in, cid)
    return cid, [m.id for m in contract(db, cid).milestones]


@pytest.mark.parametrize("action, data", [
    ("delete", {}),
    ("", {"title": "Changed", "amount": "9"}),
    ("move", {"direction": "down"}),
], ids=["remove", "update", "move"])
def test_refused_htmx_edit_goes_to_the_notice_area_and_keeps_the_row(logged_in, db, sent, action, data):
    cid, (first, second) = sent
    url = f"/contracts/{cid}/milestones/{first}" + (f"/{action}" if action else "")
    r = logged_in.post(url, data, htmx=True)
    assert_notice(r, 409, "Not possible.")
    assert "Cannot edit" in r.text
    c = contract(db, cid)
    assert [(m.id, m.title, m.amount.minor) for m in c.milestones] == [
        (first, "Milestone 1", 100000), (second, "Milestone 2", 200000)]


def test_refused_plain_post_flashes_and_goes_back_to_the_contract(logged_in, db, sent):
    cid, (first, _) = sent
    r = logged_in.post(f"/contracts/{cid}/milestones/{first}/delete")
    assert r.status_code == 303 and r.location.endswith(f"/contracts/{cid}")
    assert "Cannot edit" in logged_in.get(r.location).text
    assert len(contract(db, cid).milestones) == 2


def test_refused_send_goes_back_to_the_review(logged_in, db, sent):
    cid, _ = sent
    assert logged_in.post(f"/contracts/{cid}/withdraw").status_code == 303
    r = logged_in.post(f"/contracts/{cid}/send")
    assert r.status_code == 303 and r.location.endswith(f"/contracts/{cid}/review")


def test_refused_htmx_request_outside_the_editor_is_a_notice_too(logged_in, db, sent):
    cid, _ = sent
    r = logged_in.post(f"/contracts/{cid}/end", htmx=True)
    assert_notice(r, 409, "Not possible.")
    assert contract(db, cid).state == "sent"


@pytest.mark.parametrize("url", ["/milestones/999999/delete", "/milestones/999999/move", "/milestones/999999"])
def test_a_missing_milestone_is_a_404(logged_in, url):
    cid = milestone_contract(logged_in, amounts=("1000",))
    assert_notice(logged_in.post(f"/contracts/{cid}{url}", {"direction": "up"}, htmx=True), 404, "Not found.")
    assert logged_in.post(f"/contracts/{cid}{url}", {"direction": "up"}).status_code == 404


def test_a_missing_contract_is_a_404(logged_in):
    assert_notice(logged_in.post("/contracts/999999/end", htmx=True), 404, "Not found.")
    assert logged_in.get("/contracts/999999").status_code == 404
