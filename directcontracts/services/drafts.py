"""The contract builder's steps for a draft: create it with the client's details, then the terms.

Every public function is one use case: it loads what it needs, checks the
state allows it (through the domain's state machine), applies the change and
commits once. The milestones of the terms step are milestone_editor's.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy.exc import IntegrityError

from ..domain import rules
from ..domain.money import SUPPORTED_CURRENCIES, Money, MoneyError
from ..domain.rules import check_text
from ..domain.states import ContractAction, ContractState, contract_transition
from ..domain.terms import Limits, Summary, check_amount, parse_amount, parse_milestone, summarize
from ..extensions import db
from ..models import Contract, Member, Milestone, ShopSettings, utcnow
from . import activity, tokens
from .accounts import find_member_by_email, normalise_email
from .preferences import display_for
from .errors import ValidationFailed


def _client_errors(member: Member, name: str, email: str, company: str) -> tuple[dict, str]:
    errors: dict[str, str] = {}
    name, company = (name or "").strip(), (company or "").strip()
    if err := check_text(name, rules.CLIENT_NAME):
        errors["client_name"] = err
    if err := check_text(company, rules.CLIENT_COMPANY):
        errors["client_company"] = err
    try:
        email = normalise_email(email)
    except ValueError as exc:
        errors["client_email"] = str(exc)
    else:
        if email.lower() == member.email.lower():
            errors["client_email"] = "That is your own email. Enter your client's email."
        elif find_member_by_email(email):
            errors["client_email"] = (
                "That email belongs to a member of this shop. Direct contracts are "
                "for clients outside the shop."
            )
    return errors, email


def create_draft(member: Member, *, client_name: str, client_email: str,
                 client_company: str = "") -> Contract:
    """Step 1: a new draft with the client's details. Raises ValidationFailed."""
    errors, email = _client_errors(member, client_name, client_email, client_company)
    if errors:
        raise ValidationFailed(errors)
    settings = ShopSettings.get()
    for _ in range(5):
        contract = Contract(
            ref=tokens.new_ref(), member_id=member.id, client_name=client_name.strip(),
            client_email=email, client_company=(client_company or "").strip(),
            fee_bps=settings.fee_bps, currency="USD", kind="milestones",
            state=ContractState.DRAFT,
        )
        db.session.add(contract)
        try:
            db.session.flush()
        except IntegrityError:  # a reference collision: try another
            db.session.rollback()
            continue
        activity.record(contract, "created", "freelancer", "Draft created.")
        db.session.commit()
        return contract
    raise RuntimeError("could not allocate a contract reference")


def _require_editable(contract: Contract) -> None:
    contract_transition(contract.state, ContractAction.EDIT)


def update_client(contract: Contract, member: Member, *, client_name: str, client_email: str,
                  client_company: str = "") -> Contract:
    """Change the client's details of a draft. Raises ValidationFailed, InvalidTransition."""
    _require_editable(contract)
    errors, email = _client_errors(member, client_name, client_email, client_company)
    if errors:
        raise ValidationFailed(errors)
    contract.client_name = client_name.strip()
    contract.client_email = email
    contract.client_company = (client_company or "").strip()
    contract.last_activity_at = utcnow()
    db.session.commit()
    return contract


def limits() -> Limits:
    return ShopSettings.get().limits()


def typing_locale(contract: Contract) -> str:
    """The locale amounts are typed in on a contract's builder: its member's (only they edit it)."""
    return display_for(contract.member).locale


def update_terms(contract: Contract, *, title: str, scope: str, currency: str, kind: str,
                 amount_text: str = "", due_text: str = "", today: date | None = None) -> Contract:
    """Save title, scope, currency and kind (and the single amount). Raises ValidationFailed.

    Amounts keep their value in major units when the currency changes; a
    change that would make one unrepresentable (12.50 in JPY) or out of
    limits is refused on the currency field, nothing lost.
    """
    _require_editable(contract)
    lim, today = limits(), today or date.today()
    title, scope = (title or "").strip(), (scope or "").strip()
    errors: dict[str, str] = {}
    if err := check_text(title, rules.TITLE):
        errors["title"] = err
    if err := check_text(scope, rules.SCOPE):
        errors["scope"] = err
    if currency not in SUPPORTED_CURRENCIES:
        errors["currency"] = "Choose one of the listed currencies."
    if kind not in ("single", "milestones"):
        errors["kind"] = "Choose a single amount or milestones."
    live = contract.live_milestones
    converted: dict[int, int] = {}
    if "currency" not in errors and currency != contract.currency:
        for number, m in enumerate(live, 1):
            try:
                new = Money.from_major(m.amount.as_decimal(), currency)
            except MoneyError:
                errors["currency"] = (f"Milestone {number} ({m.amount.format()}) has decimals "
                                      f"that {currency} does not allow. Change it first.")
                break
            if err := check_amount(new, lim):
                errors["currency"] = f"Milestone {number}: {err}"
                break
            converted[m.id] = new.minor
    single = None
    if kind == "single" and "currency" not in errors:
        if len(live) > 1:
            errors["kind"] = "Remove the extra milestones first: a single amount has one payment."
        else:
            single = parse_milestone(title=title or "Full amount", amount_text=amount_text,
                                     due_text=due_text, description="", currency=currency,
                                     today=today, limits=lim, locale=typing_locale(contract))
            for field in ("amount", "due_date"):
                if field in single.errors:
                    errors[field] = single.errors[field]
    if errors:
        raise ValidationFailed(errors)
    contract.title, contract.scope, contract.kind = title, scope, kind
    for m in live:
        if m.id in converted:
            m.amount_minor = converted[m.id]
    contract.currency = currency
    if single is not None:
        if live:
            milestone = live[0]
        else:
            milestone = Milestone(contract=contract, position=1, title=title, amount_minor=1)
            db.session.add(milestone)
        milestone.title = title
        milestone.amount_minor = single.amount.minor
        milestone.due_date = single.due_date
    contract.last_activity_at = utcnow()
    db.session.commit()
    return contract


def preview_summary(contract: Contract, amount_text: str, currency: str | None = None) -> tuple[Summary, str | None]:
    """The live total for a single amount being typed in ``currency`` (the one chosen, not yet saved).

    Returns (summary, refusal): an amount that does not parse, or is out of limits, gives a zero
    summary in that currency and the reason, which the preview shows instead of the totals (never
    a silent 0.00). Nothing is saved.
    """
    currency = currency if currency in SUPPORTED_CURRENCIES else contract.currency
    fee_bps = ShopSettings.get().fee_bps
    if not (amount_text or "").strip():
        return summarize([], currency, fee_bps), None
    amount, refusal = parse_amount(amount_text, currency, limits(), typing_locale(contract))
    return summarize([amount] if amount else [], currency, fee_bps), refusal
