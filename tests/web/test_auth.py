"""Setup page, login, logout, members — through HTTP with CSRF on."""
from directcontracts.models import Member
from tests.conftest import PASSWORD


def test_empty_shop_leads_to_setup_which_creates_the_owner(client, db):
    assert client.get("/contracts").location.endswith("/setup")
    page = client.get("/setup")
    assert page.status_code == 200 and 'label for="email"' in page.text
    bad = client.post("/setup", {"name": "", "email": "nope", "password": "short"})
    assert bad.status_code == 422
    assert "Enter a name." in bad.text and "at least 10 characters" in bad.text
    ok = client.post("/setup", {"name": "Olive Owner", "email": "olive@example.com", "password": PASSWORD})
    assert ok.status_code == 303
    owner = db.session.scalar(db.select(Member))
    assert owner.is_owner and owner.email == "olive@example.com" and owner.password_hash != PASSWORD
    assert client.get("/contracts").status_code == 200
    # once set up, the page is gone
    assert client.get("/setup").status_code == 302
    again = client.post("/setup", {"name": "X", "email": "x@example.com", "password": PASSWORD})
    assert again.status_code == 303 and db.session.scalar(db.select(db.func.count(Member.id))) == 1


def test_login_errors_are_identical_and_logout_works(client, member):
    wrong = client.post("/login", {"email": member.email, "password": "wrong password!"})
    unknown = client.post("/login", {"email": "nobody@example.com", "password": "wrong password!"})
    assert wrong.status_code == unknown.status_code == 401
    message = "That email and password do not match an account."
    assert message in wrong.text and message in unknown.text
    assert client.post("/login", {"email": member.email.upper(), "password": PASSWORD}).status_code == 303
    assert client.get("/contracts").status_code == 200
    assert client.post("/logout").status_code == 303
    assert client.get("/contracts").status_code == 302


def test_login_next_is_only_followed_on_this_site(client, member):
    r = client.post("/login", {"email": member.email, "password": PASSWORD, "next": "https://evil.example/"})
    assert r.location == "/contracts"


def test_post_without_csrf_is_refused(client, member):
    r = client.post("/login", {"email": member.email, "password": PASSWORD}, csrf=False)
    assert r.status_code == 400 and "Reload the page" in r.text


def test_owner_adds_members_others_cannot(client, make_member, login_as):
    owner = make_member("olive@example.com", "Olive", owner=True)
    login_as(owner)
    bad = client.post("/admin/members", {"name": "B", "email": "olive@example.com", "password": PASSWORD})
    assert bad.status_code == 422 and "already exists" in bad.text
    ok = client.post("/admin/members", {"name": "Bo", "email": "bo@example.com", "password": PASSWORD})
    assert ok.status_code == 303
    client.post("/logout")
    bo = Member.query.filter_by(email="bo@example.com").one()
    login_as(bo)
    assert client.get("/admin/members").status_code == 404
    assert client.post("/admin/members", {"name": "C", "email": "c@example.com", "password": PASSWORD}).status_code == 404


def test_owner_changes_settings_with_validation(client, make_member, login_as, db):
    from directcontracts.models import ShopSettings
    login_as(make_member("olive@example.com", "Olive", owner=True))
    assert 'value="3.4"' in client.get("/admin/settings").text
    bad = client.post("/admin/settings", {"shop_name": "S", "fee_percent": "abc", "min_amount": "0",
                                          "max_amount": "1", "auto_release_days": "0"})
    assert bad.status_code == 422 and "like 3.4" in bad.text and "1 to 90" in bad.text
    ok = client.post("/admin/settings", {"shop_name": "Shop", "fee_percent": "2.9", "min_amount": "10",
                                         "max_amount": "5000", "auto_release_days": "10"})
    assert ok.status_code == 303
    s = db.session.get(ShopSettings, 1)
    assert (s.fee_bps, s.auto_release_days) == (290, 10)


def test_create_member_cli(runner, runner_env=None):
    result = runner.invoke(args=["create-member", "cli@example.com", "--name", "Cli", "--password", PASSWORD, "--owner"])
    assert result.exit_code == 0, result.output
    assert "Created owner cli@example.com" in result.output
    dup = runner.invoke(args=["create-member", "cli@example.com", "--name", "Cli", "--password", PASSWORD])
    assert dup.exit_code != 0 and "already exists" in dup.output
    seed = runner.invoke(args=["seed-demo"])
    assert "Demo login: demo@example.com / tulip-harbor-escrow" in seed.output
