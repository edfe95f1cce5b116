"""The test payment processor panel exists only on the offline test gateway: on Braintree it is a 404 and
the owner sees no link to it (the real processor settles and the banks decide on their own)."""
from __future__ import annotations


def test_on_braintree_the_panel_is_404_and_not_linked(braintree_app, logged_in):
    assert logged_in.get("/dev/gateway").status_code == 404
    assert logged_in.post("/dev/gateway/any-sale", {"action": "settle"}).status_code == 404
    page = logged_in.get("/contracts").text
    assert "Test processor" not in page and 'href="/admin/webhooks"' in page  # the owner's nav is there
