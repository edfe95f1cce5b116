"""The contract builder: client step, terms, the htmx milestone editor, limits."""
from datetime import date, timedelta

import pytest

from tests.web.builders import add_milestone, contract, create_draft, milestone_contract, save_terms


def test_client_step_validates_email_and_refuses_members(logged_in, member, make_member):
    other = make_member("bob@example.com", "Bob")
    cases = {
        "not-an-email": "An email address must have an @-sign",
        member.email: "That is your own email",
        other.email.upper(): "belongs to a member of this shop",
    }
    for email, message in cases.items():
        r = logged_in.post("/contracts", {"client_name": "C", "client_email": email})
        assert r.status_code == 422 and message in r.text, email
        assert 'aria-invalid="true"' in r.text and 'label for="client_email"' in r.text
    r = logged_in.post("/contracts", {"client_name": "", "client_email": "c@client-co.com"})
    assert r.status_code == 422 and "Enter the client&#39;s name." in r.text
    assert 'value="c@client-co.com"' in r.text  # nothing typed is lost


def test_new_draft_is_saved_and_listed(logged_in, db):
    cid = create_draft(logged_in)
    c = contract(db, cid)
    assert (c.state, c.client_email, c.client_company, c.fee_bps) == ("draft", "carla@client-co.com", "Client Co", 340)
    assert c.ref.startswith("DC-") and len(c.ref) == 12
    listing = logged_in.get("/contracts")
    assert "Carla Client" in listing.text and "Untitled draft" in listing.text and "Draft" in listing.text


def test_milestone_editor_fragments(logged_in, db):
    cid = create_draft(logged_in)
    save_terms(logged_in, cid)
    r = add_milestone(logged_in, cid, "Design", "1,000")
    assert "<html" not in r.text and 'id="milestone-add"' in r.text
    assert '<hx-partial hx-target="#milestone-list" hx-swap="beforeend">' in r.text
    assert 'id="milestone-summary"' in r.text and 'hx-swap-oob="true"' in r.text
    assert "$1,000.00" in r.text and "$34.00" in r.text and "$966.00" in r.text
    m1 = contract(db, cid).milestones[0]
    add_milestone(logged_in, cid, "Build", "2000")
    add_milestone(logged_in, cid, "Launch", "500.50")

    # edit in place: the row comes back in edit mode, then saved
    r = logged_in.get(f"/contracts/{cid}/milestones/{m1.id}/edit", htmx=True)
    assert r.status_code == 200 and "<html" not in r.text and f'id="milestone-{m1.id}"' in r.text
    assert 'value="1000.00"' in r.text
    r = logged_in.post(f"/contracts/{cid}/milestones/{m1.id}", {"title": "Design v2", "amount": "abc"}, htmx=True)
    assert r.status_code == 422 and "<html" not in r.text
    assert f'id="m{m1.id}-amount-error"' in r.text and "Enter the amount as a number" in r.text
    assert 'value="Design v2"' in r.text  # the typed title is kept
    r = logged_in.post(f"/contracts/{cid}/milestones/{m1.id}", {"title": "Design v2", "amount": "1200"}, htmx=True)
    assert r.status_code == 200 and "Design v2" in r.text and 'hx-swap-oob="true"' in r.text
    assert "$3,700.50" in r.text  # the new total rides along

    # reorder: the list comes back in the new order
    r = logged_in.post(f"/contracts/{cid}/milestones/{m1.id}/move", {"direction": "down"}, htmx=True)
    assert r.status_code == 200 and r.text.index("Build") < r.text.index("Design v2")
    assert [m.title for m in contract(db, cid).milestones] == ["Build", "Design v2", "Launch"]
    logged_in.post(f"/contracts/{cid}/milestones/{m1.id}/move", {"direction": "down"}, htmx=True)
    logged_in.post(f"/contracts/{cid}/milestones/{m1.id}/move", {"direction": "down"}, htmx=True)  # at the end: no-op
    assert [m.title for m in contract(db, cid).milestones] == ["Build", "Launch", "Design v2"]

    # remove: the summary comes back out of band
    launch = contract(db, cid).milestones[1]
    r = logged_in.post(f"/contracts/{cid}/milestones/{launch.id}/delete", htmx=True)
    assert r.status_code == 200 and 'hx-swap-oob="true"' in r.text and "$3,200.00" in r.text
    c = contract(db, cid)
    assert [(m.position, m.title) for m in c.milestones] == [(1, "Build"), (2, "Design v2")]
    assert c.total.minor == 320000


def test_editor_works_without_javascript(logged_in, db):
    cid = create_draft(logged_in)
    save_terms(logged_in, cid)
    r = add_milestone(logged_in, cid, "Design", "100", htmx=False, expect=303)
    assert r.location.endswith(f"/contracts/{cid}/terms#milestones")
    bad = add_milestone(logged_in, cid, "", "1", htmx=False, expect=422)
    assert "<html" in bad.text and "Enter a title." in bad.text  # the form's own check: the service is not asked
    bad = add_milestone(logged_in, cid, "Typed", "1", htmx=False, expect=422)
    assert "<html" in bad.text and "The minimum is $5.00." in bad.text and 'value="Typed"' in bad.text
    m = contract(db, cid).milestones[0]
    page = logged_in.get(f"/contracts/{cid}/milestones/{m.id}/edit")
    assert "<html" in page.text and "Edit milestone" in page.text
    r = logged_in.post(f"/contracts/{cid}/milestones/{m.id}", {"title": "Design", "amount": "150"})
    assert r.status_code == 303
    assert logged_in.post(f"/contracts/{cid}/milestones/{m.id}/delete").status_code == 303
    assert contract(db, cid).milestones == []


@pytest.mark.parametrize("field, value, message", [
    ("amount", "0", "The amount must be more than zero."),
    ("amount", "4.99", "The minimum is $5.00."),
    ("amount", "1000000.01", "The maximum is $1,000,000.00."),
    ("amount", "12.345", "at most 2 decimals"),
    ("title", "x" * 201, "Keep the title under 200 characters"),
    ("description", "x" * 5001, "Keep the description under 5,000 characters"),
    ("due_date", (date.today() - timedelta(days=1)).isoformat(), "The due date is in the past."),
    ("due_date", "31/12/2030", "YYYY-MM-DD"),
])
def test_milestone_limits(logged_in, db, field, value, message):
    cid = create_draft(logged_in)
    save_terms(logged_in, cid)
    data = {"title": "Work", "amount": "100", "due_date": "", "description": ""} | {field: value}
    r = logged_in.post(f"/contracts/{cid}/milestones", data, htmx=True)
    assert r.status_code == 422 and "<html" not in r.text and 'id="milestone-add"' in r.text
    assert f'id="new-{field}-error"' in r.text and message in r.text
    assert contract(db, cid).milestones == []


def test_at_most_50_milestones(logged_in, db):
    cid = create_draft(logged_in)
    save_terms(logged_in, cid)
    c = contract(db, cid)
    from directcontracts.models import Milestone
    db.session.add_all(Milestone(contract=c, position=n, title=f"M{n}", amount_minor=1000) for n in range(1, 51))
    db.session.commit()
    r = logged_in.post(f"/contracts/{cid}/milestones", {"title": "One more", "amount": "10"}, htmx=True)
    assert r.status_code == 422 and "at most 50 milestones" in r.text


def test_jpy_has_no_minor_unit(logged_in, db):
    cid = create_draft(logged_in)
    save_terms(logged_in, cid, currency="JPY")
    bad = logged_in.post(f"/contracts/{cid}/milestones", {"title": "A", "amount": "1500.5"}, htmx=True)
    assert bad.status_code == 422 and "JPY amounts have no decimals." in bad.text
    assert logged_in.post(f"/contracts/{cid}/milestones", {"title": "A", "amount": "4"}, htmx=True).status_code == 422
    ok = add_milestone(logged_in, cid, "A", "150,000")
    assert "¥150,000" in ok.text and "¥5,100" in ok.text  # fee 3.4% of ¥150,000
    assert contract(db, cid).milestones[0].amount_minor == 150000


def test_currency_change_keeps_amounts_or_explains(logged_in, db):
    cid = milestone_contract(logged_in, amounts=("1000", "12.50"))
    r = save_terms(logged_in, cid, currency="JPY", expect=422)
    assert "Milestone 2 ($12.50) has decimals that JPY does not allow" in r.text
    assert contract(db, cid).currency == "USD"
    logged_in.post(f"/contracts/{cid}/milestones/{contract(db, cid).milestones[1].id}",
                   {"title": "Milestone 2", "amount": "12"}, htmx=True)
    save_terms(logged_in, cid, currency="JPY")
    c = contract(db, cid)
    assert c.currency == "JPY" and [m.amount_minor for m in c.milestones] == [1000, 12]


def test_single_amount_contract(logged_in, db):
    cid = create_draft(logged_in)
    r = save_terms(logged_in, cid, kind="single", amount="", expect=422)
    assert "Enter an amount." in r.text
    save_terms(logged_in, cid, kind="single", amount="2,500")
    c = contract(db, cid)
    assert c.kind == "single" and [(m.title, m.amount_minor) for m in c.milestones] == [("Website redesign", 250000)]
    page = logged_in.get(f"/contracts/{cid}/terms")
    assert 'value="2500.00"' in page.text and "$85.00" in page.text
    preview = logged_in.post(f"/contracts/{cid}/terms/preview", {"amount": "1000"}, htmx=True)
    assert preview.status_code == 200 and "<html" not in preview.text and "$34.00" in preview.text
    # back to milestones keeps the amount as the first milestone
    save_terms(logged_in, cid, kind="milestones")
    add_milestone(logged_in, cid, "Extra", "100")
    r = save_terms(logged_in, cid, kind="single", amount="100", expect=422)
    assert "Remove the extra milestones first" in r.text


def test_terms_validation_keeps_input(logged_in):
    cid = create_draft(logged_in)
    r = save_terms(logged_in, cid, title="", scope="Keep me", currency="XXX", expect=422)
    assert "Enter a title." in r.text  # the form's own check: the service is not asked yet
    assert "Keep me" in r.text
    r = save_terms(logged_in, cid, title="Typed", scope="Keep me", currency="XXX", expect=422)
    assert "Choose one of the listed currencies." in r.text
    assert "Keep me" in r.text


def test_htmx_request_without_csrf_header_is_refused(logged_in, db):
    cid = create_draft(logged_in)
    save_terms(logged_in, cid)
    r = logged_in.post(f"/contracts/{cid}/milestones", {"title": "A", "amount": "100"}, htmx=True,
                       headers={"X-CSRFToken": "forged"})
    assert r.status_code == 400 and "<html" not in r.text
    assert r.headers["HX-Retarget"] == "#notices"
    missing = logged_in.post(f"/contracts/{cid}/milestones", {"title": "A", "amount": "100"}, htmx=True, csrf=False)
    assert missing.status_code == 400 and missing.headers["HX-Retarget"] == "#notices"
    assert contract(db, cid).milestones == []


def test_pages_carry_csrf_header_for_htmx(logged_in):
    page = logged_in.get("/contracts")
    assert "hx-headers:inherited='{\"X-CSRFToken\": " in page.text
    assert "/static/vendor/htmx-4.0.1.min.js" in page.text


def test_list_filter_pagination_and_empty_state(logged_in, app, db, member):
    empty = logged_in.get("/contracts")
    assert "No contracts yet" in empty.text and "New contract" in empty.text
    for n in range(23):
        create_draft(logged_in, name=f"Client {n}")
    sent_id = milestone_contract(logged_in, amounts=("100",))
    logged_in.post(f"/contracts/{sent_id}/send")
    first = logged_in.get("/contracts")
    assert "Page 1 of 2" in first.text and first.text.count("<tr>") == 21  # header + 20
    assert logged_in.get("/contracts?page=2").text.count("<tr>") == 5  # header + 4
    sent = logged_in.get("/contracts?status=sent")
    assert sent.text.count("<tr>") == 2 and "$100.00" in sent.text
    none = logged_in.get("/contracts?status=active")
    assert "No contracts are active" in none.text
    assert "Client 22" in first.text.split("</tr>")[2]  # newest activity first (after the sent one)


# ---- moving between steps saves what was typed (issue 7, item 4) -------------

def test_step_links_on_the_terms_page_submit_the_terms_form(logged_in, db):
    cid = create_draft(logged_in)
    page = logged_in.get(f"/contracts/{cid}/terms").text
    for step in ("client", "review"):
        assert f'<button type="submit" form="terms-form" name="next" value="{step}"' in page, step
    assert f'href="/contracts/{cid}/review"' not in page and f'href="/contracts/{cid}/client"' not in page
    # the bottom "Review" is a submit button of the same form, not a link
    assert '<button type="submit" form="terms-form" name="next" value="review">Review</button>' in page
    # Enter in a field hits the first submit button of the form: it must mean "save", not a step
    assert page.index('form="terms-form" name="next" value="save" hidden') < page.index('value="client"')


@pytest.mark.parametrize("step, lands_on", [("review", "/review"), ("client", "/client")])
def test_following_a_step_saves_the_terms(logged_in, db, step, lands_on):
    cid = create_draft(logged_in)
    r = logged_in.post(f"/contracts/{cid}/terms", {"title": "Typed title", "scope": "Typed scope.",
                                                   "currency": "EUR", "kind": "milestones", "next": step})
    assert r.status_code == 303 and r.location.endswith(f"/contracts/{cid}{lands_on}")
    c = contract(db, cid)
    assert (c.title, c.scope, c.currency) == ("Typed title", "Typed scope.", "EUR")
    landed = logged_in.get(r.location).text
    assert "Give the contract a title" not in landed
    back = logged_in.get(f"/contracts/{cid}/terms").text
    assert 'value="Typed title"' in back and "Typed scope.</textarea>" in back


def test_following_a_step_with_invalid_terms_keeps_them_with_the_errors(logged_in, db):
    cid = create_draft(logged_in)
    save_terms(logged_in, cid, title="Saved title", scope="Saved scope.")
    r = logged_in.post(f"/contracts/{cid}/terms", {"title": "x" * 201, "scope": "New scope, not lost.",
                                                   "currency": "USD", "kind": "single", "amount": "12.345",
                                                   "next": "review"})
    assert r.status_code == 422 and "<html" in r.text  # the whole page again, not the review
    assert "Keep the title under 200 characters" in r.text  # the form's own check: the service is not asked yet
    assert "New scope, not lost.</textarea>" in r.text and 'value="12.345"' in r.text
    assert contract(db, cid).scope == "Saved scope."  # nothing half-saved
    r = logged_in.post(f"/contracts/{cid}/terms", {"title": "New title", "scope": "New scope, not lost.",
                                                   "currency": "USD", "kind": "single", "amount": "12.345",
                                                   "next": "review"})
    assert r.status_code == 422 and "<html" in r.text and "USD amounts have at most 2 decimals." in r.text
    assert "New scope, not lost.</textarea>" in r.text and 'value="12.345"' in r.text
    assert contract(db, cid).scope == "Saved scope."  # nothing half-saved


def test_client_step_buttons_save_the_client(logged_in, db):
    cid = create_draft(logged_in)
    page = logged_in.get(f"/contracts/{cid}/client").text
    for step in ("terms", "review"):
        assert f'<button type="submit" form="client-form" name="next" value="{step}"' in page, step
    assert 'id="client-form"' in page
    r = logged_in.post(f"/contracts/{cid}/client", {"client_name": "Dana Client", "client_email": "dana@client-co.com",
                                                    "client_company": "", "next": "review"})
    assert r.status_code == 303 and r.location.endswith(f"/contracts/{cid}/review")
    assert contract(db, cid).client_name == "Dana Client"
    assert "dana@client-co.com" in logged_in.get(r.location).text
    plain = logged_in.post(f"/contracts/{cid}/client", {"client_name": "Dana C", "client_email": "dana@client-co.com"})
    assert plain.status_code == 303 and plain.location.endswith(f"/contracts/{cid}/terms")
    bad = logged_in.post(f"/contracts/{cid}/client", {"client_name": "Typed name", "client_email": "nope",
                                                      "next": "terms"})
    assert bad.status_code == 422 and 'value="Typed name"' in bad.text and 'value="nope"' in bad.text
    assert contract(db, cid).client_name == "Dana C"
