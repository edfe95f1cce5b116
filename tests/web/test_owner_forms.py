"""The login, setup and owner pages render their fields from forms: limits, typed values, every error at once."""
from tests.conftest import PASSWORD


def test_setup_keeps_what_was_typed_but_never_the_password(client, db):
    page = client.get("/setup").text
    assert 'maxlength="120"' in page and 'maxlength="254"' in page and 'minlength="10"' in page
    bad = client.post("/setup", {"name": "  Olive  ", "email": "nope", "password": "shortpw"})
    assert bad.status_code == 422
    assert 'value="Olive"' in bad.text and 'value="nope"' in bad.text
    assert "shortpw" not in bad.text and 'id="password" ' in bad.text and 'type="password"' in bad.text
    assert 'id="email-error"' in bad.text and "Use at least 10 characters." in bad.text


def test_login_carries_next_and_keeps_the_email(client, member):
    assert 'name="next" type="hidden" value="/admin/members"' in client.get("/login?next=/admin/members").text
    wrong = client.post("/login", {"email": f" {member.email} ", "password": "not it at all", "next": "/x"})
    assert wrong.status_code == 401
    assert f'value="{member.email}"' in wrong.text and 'value="/x"' in wrong.text
    assert "not it at all" not in wrong.text
    ok = client.post("/login", {"email": f" {member.email} ", "password": PASSWORD, "next": "/contracts?page=2"})
    assert ok.status_code == 303 and ok.location == "/contracts?page=2"


def test_members_form_shows_the_services_errors_beside_the_fields(client, make_member, login_as):
    login_as(make_member("olive@example.com", "Olive", owner=True))
    bad = client.post("/admin/members", {"name": "", "email": "bo@", "password": "x"})
    assert bad.status_code == 422 and "Please correct 3 fields" in bad.text
    assert 'id="name-error">Enter a name.' in bad.text and 'id="email-error"' in bad.text
    assert 'id="password-error">Use at least 10 characters.' in bad.text


def test_settings_name_every_mistake_at_once(client, make_member, login_as):
    login_as(make_member("olive@example.com", "Olive", owner=True))
    page = client.get("/admin/settings").text
    assert 'min="1"' in page and 'max="90"' in page and 'inputmode="decimal"' in page
    bad = client.post("/admin/settings", {"shop_name": "", "fee_percent": "abc", "min_amount": "0",
                                          "max_amount": "1", "auto_release_days": "91"})
    assert bad.status_code == 422
    for name in ("shop_name", "fee_percent", "min_amount", "auto_release_days"):
        assert f'id="{name}-error"' in bad.text, name
    assert 'value="abc"' in bad.text and "Enter a shop name under 120 characters." in bad.text


def test_payouts_filter_marks_a_bad_date_and_keeps_the_good_one(client, make_member, login_as):
    login_as(make_member("olive@example.com", "Olive", owner=True))
    page = client.get("/admin/payouts?start=garbage&end=2020-01-31")
    assert page.status_code == 200
    assert 'id="start-error">Use the date picker (YYYY-MM-DD).' in page.text and 'value="2020-01-31"' in page.text
    assert client.get("/admin/payouts.csv?start=garbage").status_code == 200


def test_the_owner_sets_the_time_to_answer_a_dispute(client, make_member, login_as, db):
    from directcontracts.models import ShopSettings
    login_as(make_member("olive@example.com", "Olive", owner=True))
    page = client.get("/admin/settings").text
    assert 'name="dispute_response_days"' in page and 'value="7"' in page and 'max="30"' in page
    good = {"shop_name": "Olive's", "fee_percent": "3.4", "min_amount": "5", "max_amount": "1000000",
            "auto_release_days": "14"}
    bad = client.post("/admin/settings", {**good, "dispute_response_days": "31"})
    assert bad.status_code == 422 and 'id="dispute_response_days-error">Enter a number of days from 1 to 30.' in bad.text
    assert client.post("/admin/settings", {**good, "dispute_response_days": "3"}).status_code == 303
    db.session.expire_all()
    assert ShopSettings.get().dispute_response_days == 3
