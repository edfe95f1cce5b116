"""The builder in a real browser: a freelancer writes a contract, the client opens it.

One user story, asserting what the user sees: log in, create a draft, build the
milestones with the htmx editor (add, remove, reorder, edit in place with an
error), review, send, read the email in the local inbox and open the client's
link. A second test proves the editor also works with JavaScript off.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.conftest import DESKTOP, PHONE
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "test-results"

CLIENT_NAME, CLIENT_EMAIL = "Carla Client", "carla@client-co.com"
TITLE = "Website redesign"


def expect(target):
    from playwright.sync_api import expect as _expect
    return _expect(target)


def log_in(page, member_email):
    page.goto("/login")
    page.get_by_label("Email").fill(member_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Direct Contracts", level=1)).to_be_visible()


def start_contract(page):
    """Contract list → New contract → client → terms saved; leaves the page on the terms step."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Direct Contracts").click()
    expect(page).to_have_url(re.compile(r"/contracts$"))
    page.get_by_role("link", name="New contract").first.click()
    page.get_by_label("Client's name").fill(CLIENT_NAME)
    page.get_by_label("Client's email").fill(CLIENT_EMAIL)
    page.get_by_label("Company").fill("Client Co")
    page.get_by_role("button", name="Save and continue to terms").click()
    expect(page).to_have_url(re.compile(r"/contracts/\d+/terms$"))

    terms = page.locator("#terms-form")
    terms.get_by_label("Contract title").fill(TITLE)
    terms.get_by_label("Scope of work").fill("Design and build the new site.")
    expect(terms.get_by_label("Currency")).to_have_value("USD")
    expect(page.get_by_role("radio", name="Milestones")).to_be_checked()
    terms.get_by_role("button", name="Save terms").click()
    expect(page.locator("#notices")).to_contain_text("Terms saved.")
    expect(page.get_by_role("heading", name=TITLE, level=1)).to_be_visible()


def add_milestone(page, title, amount):
    form = page.locator("#milestone-add")
    form.get_by_label("Title").fill(title)
    form.get_by_label("Amount (USD)").fill(amount)
    form.get_by_role("button", name="Add milestone").click()


def expect_milestones(page, titles, amounts=None):
    rows = page.locator("#milestone-list > li")
    expect(rows).to_have_count(len(titles))
    expect(rows.locator(".milestone-title")).to_have_text(titles)
    if amounts:
        expect(rows.locator("[data-testid=milestone-amount]")).to_have_text(amounts)


def expect_summary(page, total, fee, net):
    summary = page.locator("#milestone-summary")
    expect(summary.locator("[data-testid=total]")).to_have_text(total)
    expect(summary.locator("[data-testid=fee]")).to_have_text(f"−{fee}")  # U+2212: paid by you
    expect(summary.locator("[data-testid=net]")).to_have_text(net)
    expect(summary).to_contain_text("Processing fee (3.4%, paid by you)")


def screenshot(page, name):
    """A full-page phone-size picture for a person to look at; not asserted."""
    SHOTS.mkdir(exist_ok=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def test_freelancer_builds_sends_and_client_opens(new_page, live_server, make_member, db):
    member = make_member()
    member_name, member_email = member.name, member.email
    db.session.commit()  # end the test thread's transaction before the server writes
    page, log = new_page()

    log_in(page, member_email)
    start_contract(page)
    expect(page.locator(".empty-hint")).to_have_text("No milestones yet: add the first one below.")
    page.evaluate("window.__marker = 1")

    # -- add four milestones: each one appears at the end and the summary follows
    add_milestone(page, "Design", "1000")
    expect_milestones(page, ["Design"], ["$1,000.00"])
    expect_summary(page, "$1,000.00", "$34.00", "$966.00")
    expect(page.locator("#milestone-add").get_by_label("Title")).to_have_value("")  # a fresh form
    add_milestone(page, "Build", "2,000")
    expect_milestones(page, ["Design", "Build"])
    expect_summary(page, "$3,000.00", "$102.00", "$2,898.00")
    add_milestone(page, "Extra", "300")
    expect_milestones(page, ["Design", "Build", "Extra"])
    expect_summary(page, "$3,300.00", "$112.20", "$3,187.80")
    add_milestone(page, "Launch", "500")
    expect_milestones(page, ["Design", "Build", "Extra", "Launch"],
                      ["$1,000.00", "$2,000.00", "$300.00", "$500.00"])
    expect_summary(page, "$3,800.00", "$129.20", "$3,670.80")

    # -- remove Extra
    page.get_by_role("button", name="Remove Extra").click()
    expect_milestones(page, ["Design", "Build", "Launch"])
    expect_summary(page, "$3,500.00", "$119.00", "$3,381.00")

    # -- move Launch above Build
    page.get_by_role("button", name="Move Launch up").click()
    expect_milestones(page, ["Design", "Launch", "Build"], ["$1,000.00", "$500.00", "$2,000.00"])
    expect_summary(page, "$3,500.00", "$119.00", "$3,381.00")

    # -- edit Design in place: a wrong amount is explained beside the field, the row stays open
    page.get_by_role("link", name="Edit Design").click()
    design = page.locator("#milestone-list > li.editing")
    expect(design).to_have_count(1)
    row_id = design.get_attribute("id")
    mid = row_id.removeprefix("milestone-")
    amount = design.get_by_label("Amount (USD)")
    expect(amount).to_have_value("1000.00")
    design.get_by_label("Title").fill("Design v2")
    amount.fill("12.345")
    design.get_by_role("button", name="Save milestone").click()
    error = page.locator(f"#m{mid}-amount-error")
    expect(error).to_have_text("USD amounts have at most 2 decimals.")
    row = page.locator(f"#{row_id}")
    expect(row).to_have_class(re.compile(r"\bediting\b"))
    expect(row.get_by_label("Title")).to_have_value("Design v2")  # what was typed is kept
    expect(row.get_by_label("Amount (USD)")).to_have_attribute("aria-invalid", "true")
    expect(row.get_by_label("Amount (USD)")).to_have_attribute("aria-describedby", f"m{mid}-amount-error")
    expect_summary(page, "$3,500.00", "$119.00", "$3,381.00")  # nothing saved
    screenshot(page, "terms-editing-phone")

    row.get_by_label("Amount (USD)").fill("1200")
    row.get_by_role("button", name="Save milestone").click()
    expect(page.locator("#milestone-list > li.editing")).to_have_count(0)
    expect(error).to_have_count(0)
    expect_milestones(page, ["Design v2", "Launch", "Build"], ["$1,200.00", "$500.00", "$2,000.00"])
    expect_summary(page, "$3,700.00", "$125.80", "$3,574.20")

    assert page.evaluate("window.__marker") == 1, "the htmx edits reloaded the whole page"
    log.assert_clean()
    screenshot(page, "terms-phone")

    # -- review: the proposal as the client will see it, and the fee
    page.get_by_role("button", name="Save and review").click()
    expect(page.get_by_role("heading", name="Review and send")).to_be_visible()
    proposal = page.locator(".client-preview .proposal")
    expect(proposal.get_by_role("heading", name=TITLE)).to_be_visible()
    expect(proposal).to_contain_text(f"From {member_name} to {CLIENT_NAME}, Client Co")
    expect(proposal.locator("ol.milestones > li strong")).to_have_text(["Design v2", "Launch", "Build"])
    expect(proposal.locator("[data-testid=proposal-total]")).to_have_text("$3,700.00")
    expect_summary(page, "$3,700.00", "$125.80", "$3,574.20")

    # -- send
    page.get_by_role("button", name=f"Send to {CLIENT_NAME}").click()
    expect(page.locator("#notices")).to_have_text(f"Sent to {CLIENT_EMAIL}.")
    expect(page.locator(".page-head .status")).to_have_text("Sent")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Direct Contracts").click()
    expect(page.locator("table.contracts tbody tr")).to_have_count(1)
    expect(page.locator("table.contracts tbody tr")).to_contain_text("$3,700.00")
    screenshot(page, "contracts-phone")

    # -- the client's email in the local inbox, and the link in it
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inbox").click()
    expect(page.get_by_role("heading", name="Local inbox")).to_be_visible()
    page.get_by_role("link", name=f"{member_name} sent you a contract: {TITLE}").click()
    email = page.locator("article.email-body")
    expect(email).to_contain_text(f"Hello {CLIENT_NAME},")
    expect(page.get_by_text(f"To {CLIENT_EMAIL}")).to_be_visible()
    link = email.get_by_role("link", name="Open the contract")
    assert link.get_attribute("href").startswith(live_server.url + "/c/")  # BASE_URL is the live server
    link.click()

    expect(page).to_have_url(re.compile(r"/c/[A-Za-z0-9_\-]+$"))
    expect(page.get_by_role("heading", name=f"Proposal from {member_name}", level=1)).to_be_visible()
    client_view = page.locator(".proposal")
    expect(client_view.locator("ol.milestones > li strong")).to_have_text(["Design v2", "Launch", "Build"])
    expect(client_view.locator("ol.milestones > li .amount")).to_have_text(["$1,200.00", "$500.00", "$2,000.00"])
    expect(client_view.locator("[data-testid=proposal-total]")).to_have_text("$3,700.00")
    expect(page.get_by_text("no fee is added", exact=False).first).to_be_visible()
    log.assert_clean()


def test_milestone_editor_without_javascript(new_page, make_member, db):
    member = make_member()
    member_email = member.email
    db.session.commit()
    page, log = new_page(java_script_enabled=False)

    log_in(page, member_email)
    start_contract(page)

    add_milestone(page, "Design", "100")
    expect(page).to_have_url(re.compile(r"/terms#milestones$"))  # the no-JS redirect
    expect_milestones(page, ["Design"], ["$100.00"])
    expect_summary(page, "$100.00", "$3.40", "$96.60")

    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith("/milestones")) as answer:
        add_milestone(page, "Build", "1")
    assert answer.value.status == 422
    expect(page.get_by_role("heading", name=TITLE, level=1)).to_be_visible()  # the whole page
    expect(page.locator("#new-amount-error")).to_have_text("The minimum is $5.00.")
    expect(page.locator("#milestone-add").get_by_label("Title")).to_have_value("Build")
    expect_milestones(page, ["Design"])  # nothing added
    expect_summary(page, "$100.00", "$3.40", "$96.60")

    # the corrected amount goes through from the re-rendered page
    page.locator("#milestone-add").get_by_label("Amount (USD)").fill("250.50")
    page.locator("#milestone-add").get_by_role("button", name="Add milestone").click()
    expect_milestones(page, ["Design", "Build"], ["$100.00", "$250.50"])
    expect_summary(page, "$350.50", "$11.92", "$338.58")
    assert not log.page_errors


def test_empty_hint_follows_the_htmx_list(new_page, make_member, db):
    member = make_member()
    member_email = member.email
    db.session.commit()
    page, log = new_page()
    log_in(page, member_email)
    start_contract(page)
    hint = page.get_by_text("No milestones yet: add the first one below.")
    expect(hint).to_be_visible()

    add_milestone(page, "Design", "1000")
    expect_milestones(page, ["Design"])
    assert hint.is_hidden(), "the 'No milestones yet' hint still shows beside a milestone"
    page.get_by_role("button", name="Remove Design").click()
    expect(page.locator("#milestone-list > li")).to_have_count(0)
    expect(hint).to_be_visible()
    log.assert_clean()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_every_way_between_steps_keeps_what_was_typed(new_page, make_member, db, javascript):
    """Issue 7, item 4: the step links and the bottom "Review" save the typed title and scope."""
    member = make_member()
    member_email = member.email
    db.session.commit()
    page, log = new_page(java_script_enabled=javascript)
    log_in(page, member_email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Direct Contracts").click()
    page.get_by_role("link", name="New contract").first.click()
    page.get_by_label("Client's name").fill(CLIENT_NAME)
    page.get_by_label("Client's email").fill(CLIENT_EMAIL)
    page.get_by_role("button", name="Save and continue to terms").click()
    expect(page).to_have_url(re.compile(r"/contracts/\d+/terms$"))
    steps = page.get_by_role("list", name="Steps")
    terms = page.locator("#terms-form")
    expect(page.locator("button[hidden]")).to_be_hidden()  # the Enter-means-save default button

    def type_terms(title, scope):
        terms.get_by_label("Contract title").fill(title)
        terms.get_by_label("Scope of work").fill(scope)

    def expect_terms(title, scope):
        expect(page).to_have_url(re.compile(r"/contracts/\d+/terms(#terms)?$"))
        expect(terms.get_by_label("Contract title")).to_have_value(title)
        expect(terms.get_by_label("Scope of work")).to_have_value(scope)

    # step 1 link, typed but never "saved": the text is there on the way back
    type_terms("Logo design", "Three concepts, two rounds of changes.")
    if javascript:
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "terms-steps-desktop.png"), full_page=True)
        screenshot(page, "terms-steps-phone")
    steps.get_by_role("button", name="1. Client").click()
    expect(page.get_by_role("heading", name="Your client")).to_be_visible()
    if javascript:
        page.screenshot(path=str(SHOTS / "client-steps-desktop.png"), full_page=True)
        screenshot(page, "client-steps-phone")
    page.get_by_label("Company").fill("Client Co")  # and the client step saves on its step links too
    page.get_by_role("list", name="Steps").get_by_role("button", name="2. Terms").click()
    expect_terms("Logo design", "Three concepts, two rounds of changes.")

    # step 3 link
    type_terms("Logo and icons", "Three concepts.")
    steps.get_by_role("button", name="3. Review and send").click()
    expect(page.get_by_role("heading", name="Review and send")).to_be_visible()
    expect(page.locator(".client-preview .proposal")).to_contain_text("Logo and icons")
    expect(page.locator(".client-preview .proposal")).to_contain_text("Client Co")
    expect(page.get_by_text("Give the contract a title")).to_have_count(0)

    # back from review (a plain link: nothing to save there), then the bottom "Review" button
    page.get_by_role("list", name="Steps").get_by_role("link", name="2. Terms").click()
    expect_terms("Logo and icons", "Three concepts.")
    type_terms("Logo, icons and a style guide", "Three concepts and a style guide.")
    page.get_by_role("button", name="Review", exact=True).click()
    expect(page.get_by_role("heading", name="Review and send")).to_be_visible()
    proposal = page.locator(".client-preview .proposal")
    expect(proposal.get_by_role("heading", name="Logo, icons and a style guide")).to_be_visible()
    expect(proposal).to_contain_text("Three concepts and a style guide.")

    # Enter in the title saves and stays (the hidden default button), it does not jump to a step
    page.get_by_role("list", name="Steps").get_by_role("link", name="2. Terms").click()
    terms.get_by_label("Contract title").fill("Brand kit")
    terms.get_by_label("Contract title").press("Enter")
    expect(page.locator("#notices")).to_contain_text("Terms saved.")
    expect_terms("Brand kit", "Three concepts and a style guide.")

    # invalid input on the way out is shown with its error, not dropped
    terms.get_by_label("Contract title").fill("x" * 200)
    page.evaluate("document.getElementById('title').value += 'y'")  # past maxlength, as a paste could be
    terms.get_by_label("Scope of work").fill("Scope typed with a bad title.")
    steps.get_by_role("button", name="3. Review and send").click()
    expect(page.locator("#title-error")).to_contain_text("Keep the title under 200 characters")
    expect_terms("x" * 200 + "y", "Scope typed with a bad title.")
    screenshot(page, f"terms-step-error-{'js' if javascript else 'nojs'}-phone")
    if javascript:
        log.assert_clean()
    else:
        assert not log.page_errors
