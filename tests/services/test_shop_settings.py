"""The shop's settings row is made on first use, also when two first requests race for it."""
from sqlalchemy.orm import Session

from directcontracts.domain.rules import SHOP_DEFAULTS
from directcontracts.models import ShopSettings


def test_settings_are_made_with_the_defaults_once(db):
    first = ShopSettings.get()
    assert (first.id, first.fee_bps) == (1, SHOP_DEFAULTS.fee_bps)
    db.session.commit()
    assert ShopSettings.get() is first and db.session.scalar(db.select(db.func.count(ShopSettings.id))) == 1


def test_a_row_made_by_another_request_meanwhile_is_taken_not_an_error(db, monkeypatch):
    # Found by make load: two members' first drafts on a fresh install both found no row; the second
    # insert failed with a duplicate key (500). Here the other request's row lands between our read
    # and our insert.
    real_get, calls = Session.get, []

    def get_after_the_other_request_committed(self, entity, ident, **kw):
        if entity is ShopSettings and not calls:
            calls.append(ident)
            with db.engine.begin() as other:
                other.execute(db.insert(ShopSettings).values(id=1, shop_name="Made meanwhile", fee_bps=100,
                                                              auto_release_days=14, dispute_response_days=7,
                                                              min_amount=1, max_amount=1000))
            return None  # what our read saw, a moment before
        return real_get(self, entity, ident, **kw)

    monkeypatch.setattr(Session, "get", get_after_the_other_request_committed)
    settings = ShopSettings.get()
    assert (settings.id, settings.shop_name) == (1, "Made meanwhile")
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count(ShopSettings.id))) == 1
