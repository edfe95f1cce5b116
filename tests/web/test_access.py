"""A member sees and changes only their own contracts; the inbox is for members."""
import pytest

from tests.web.builders import contract, milestone_contract, sent_contract


@pytest.fixture
def others_contract(client, make_member, login_as, db):
    owner = make_member("olive@example.com", "Olive", owner=True)
    login_as(owner)
    cid = milestone_contract(client, amounts=("1000",))
    client.post("/logout")
    return cid


def test_member_cannot_see_or_touch_anothers_contract(client, make_member, login_as, others_contract, db):
    bob = make_member("bob@example.com", "Bob", owner=False)
    login_as(bob)
    cid = others_contract
    mid = contract(db, cid).milestones[0].id
    gets = [f"/contracts/{cid}", f"/contracts/{cid}/client", f"/contracts/{cid}/terms",
            f"/contracts/{cid}/review", f"/contracts/{cid}/withdraw",
            f"/contracts/{cid}/milestones/{mid}", f"/contracts/{cid}/milestones/{mid}/edit"]
    for url in gets:
        assert client.get(url).status_code == 404, url
    posts = [f"/contracts/{cid}/client", f"/contracts/{cid}/terms", f"/contracts/{cid}/terms/preview",
             f"/contracts/{cid}/milestones", f"/contracts/{cid}/milestones/{mid}",
             f"/contracts/{cid}/milestones/{mid}/delete", f"/contracts/{cid}/milestones/{mid}/move",
             f"/contracts/{cid}/send", f"/contracts/{cid}/revise", f"/contracts/{cid}/withdraw"]
    for url in posts:
        assert client.post(url, {"title": "x", "amount": "9", "client_name": "x",
                                 "client_email": "x@example.com", "direction": "up"}).status_code == 404, url
    c = contract(db, cid)
    assert c.state == "draft" and c.total.minor == 100000 and c.client_name == "Carla Client"
    assert "Website redesign" not in client.get("/contracts").text


def test_anonymous_is_sent_to_login(client, others_contract):
    r = client.get(f"/contracts/{others_contract}")
    assert r.status_code == 302 and "/login" in r.location
    assert client.get("/dev/inbox").status_code == 302


def test_inbox_shows_emails_to_members_only_when_no_mail_server(logged_in, app, db):
    from directcontracts.services import mailer
    with app.test_request_context():
        mailer.queue("x@example.com", "Hello there", "withdrawn", contract=None,
                     member=type("M", (), {"name": "N"})())
    db.session.commit()
    page = logged_in.get("/dev/inbox")
    assert page.status_code == 200 and "Hello there" in page.text
    app.config["MAIL_SERVER"] = "smtp.example.com"
    try:
        assert logged_in.get("/dev/inbox").status_code == 404
    finally:
        app.config["MAIL_SERVER"] = None


def test_the_inbox_shows_a_member_only_their_own_contracts_emails(client, make_member, login_as, db, outbox):
    """Olive (the owner) sends a contract: its email carries the client's link. Bob, another member, does not
    see it in the local inbox and cannot open it; Olive does."""
    olive = make_member("olive@example.com", "Olive", owner=True)
    bob = make_member("bob@example.com", "Bob", owner=False)
    login_as(olive)
    cid, _link = sent_contract(client, outbox, amounts=("1000",))
    [sent] = [e for e in outbox() if e.contract_id == cid]
    assert client.get(f"/dev/inbox/{sent.id}").status_code == 200
    client.post("/logout")
    login_as(bob)
    assert sent.subject not in client.get("/dev/inbox").text
    assert client.get(f"/dev/inbox/{sent.id}").status_code == 404
