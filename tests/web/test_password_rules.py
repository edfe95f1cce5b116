"""Weak passwords are refused wherever a member gets one: /setup, the owner's "add member", the CLI."""
import pytest

from directcontracts.domain import passwords
from directcontracts.models import Member
from tests.conftest import PASSWORD

WEAK = [("aaaaaaaaaa", passwords.REPEATED), ("1234567890", passwords.SEQUENCE),
        ("password12", passwords.COMMON), ("olive-owner-2025", passwords.PERSONAL),
        ("olivia.m.1985!", passwords.PERSONAL), ("short", passwords.TOO_SHORT)]


@pytest.mark.parametrize("password, message", WEAK)
def test_setup_refuses_a_weak_password_beside_the_field(client, db, password, message):
    r = client.post("/setup", {"name": "Olive Owner", "email": "olivia.m@example.com", "password": password})
    assert r.status_code == 422
    assert f'id="password-error">{message}</p>' in r.text
    assert 'label for="password"' in r.text and password not in r.text.replace(message, "")
    assert db.session.scalar(db.select(db.func.count(Member.id))) == 0


def test_setup_takes_a_long_uncommon_password(client, db):
    r = client.post("/setup", {"name": "Olive Owner", "email": "olive@example.com", "password": "plum river lantern"})
    assert r.status_code == 303


@pytest.mark.parametrize("password, message", WEAK)
def test_owner_add_member_refuses_a_weak_password(client, make_member, login_as, db, password, message):
    login_as(make_member("boss@example.com", "Bea Boss", owner=True))
    r = client.post("/admin/members", {"name": "Olive Owner", "email": "olivia.m@example.com", "password": password})
    assert r.status_code == 422
    assert f'id="password-error">{message}</p>' in r.text and 'label for="password"' in r.text
    assert Member.query.filter_by(email="olivia.m@example.com").first() is None


@pytest.mark.parametrize("password, message", WEAK)
def test_cli_refuses_a_weak_password_in_plain_words(runner, db, password, message):
    r = runner.invoke(args=["create-member", "olivia.m@example.com", "--name", "Olive Owner",
                            "--password", password, "--owner"])
    assert r.exit_code == 1
    assert f"password: {message}" in r.output and "Traceback" not in r.output
    assert Member.query.count() == 0


def test_cli_takes_a_good_password(runner, db):
    r = runner.invoke(args=["create-member", "olive@example.com", "--name", "Olive", "--password", PASSWORD])
    assert r.exit_code == 0, r.output


def test_seed_demo_never_prints_a_password_the_demo_member_does_not_have(runner, db):
    from directcontracts.cli import DEMO_EMAIL, DEMO_PASSWORD
    from directcontracts.domain.passwords import problem
    assert problem(DEMO_PASSWORD, "Dana Demo", DEMO_EMAIL) is None
    older = Member(email=DEMO_EMAIL, name="Dana Demo", is_owner=True)
    older.set_password("demo-password")  # an older version's demo password, which the rules now refuse
    db.session.add(older)
    db.session.commit()
    out = runner.invoke(args=["seed-demo"]).output
    assert DEMO_PASSWORD not in out and "with the password it was created with" in out
