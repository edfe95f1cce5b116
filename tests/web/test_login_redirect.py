"""After login, ``next`` is followed only to a page of this site (issue 11: open redirect)."""
import re
from html import unescape

import pytest

from tests.conftest import PASSWORD

OFF_SITE = [
    "/\t/evil.example/", "/%09/evil.example/", "/\n/evil.example/", "/%0a/evil.example/", "/\r\n/evil.example",
    "//evil.example/", "///evil.example/", "/\\evil.example/", "\\\\evil.example", "/%5Cevil.example",
    "/%5C/evil.example", "\\/evil.example", "/%2F%2Fevil.example", "/%2fevil.example", "%2F%2Fevil.example",
    "/%252F%252Fevil.example", "/%25252F%25252Fevil.example/", " //evil.example", "/ /evil.example",
    "https://evil.example/", "http:evil.example", "https:/evil.example", "//evil.example@localhost/contracts",
    "javascript:alert(1)", "JavaScript:alert(1)", "java\tscript:alert(1)", "data:text/html,hi",
    "evil.example", "contracts", "/\x00/evil.example", "/\x7f/evil.example", "/\u3000/evil.example",
    "/logout", "/no-such-page", "",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_off_site_or_odd_next_lands_on_the_contract_list(client, member, target):
    r = client.post("/login", {"email": member.email, "password": PASSWORD, "next": target})
    assert r.status_code == 303 and r.headers["Location"] == "/contracts"


@pytest.mark.parametrize("query", ["/%09/evil.example/", "%2F%2Fevil.example", "/%5Cevil.example",
                                   "https%3A%2F%2Fevil.example%2F", "/%2F%2Fevil.example"])
def test_the_login_page_s_next_is_refused_end_to_end(client, member, query):
    page = client.get(f"/login?next={query}")
    carried = unescape(re.search(r'name="next" type="hidden" value="([^"]*)"', page.text).group(1))
    r = client.post("/login", {"email": member.email, "password": PASSWORD, "next": carried})
    assert r.headers["Location"] == "/contracts"


@pytest.mark.parametrize("target", ["/contracts/3?x=1", "/contracts?status=active&page=2", "/contracts/new",
                                    "/admin/members", "/contracts/3/terms"])
def test_a_page_of_this_site_is_honoured_with_its_query(client, member, target):
    r = client.post("/login", {"email": member.email, "password": PASSWORD, "next": target})
    assert r.status_code == 303 and r.headers["Location"] == target


def test_login_required_sends_back_to_the_page_asked_for(client, member):
    first = client.get("/contracts/3?x=1")
    assert first.status_code == 302 and first.location == "/login?next=%2Fcontracts%2F3%3Fx%3D1"
    page = client.get(first.location)
    carried = unescape(re.search(r'name="next" type="hidden" value="([^"]*)"', page.text).group(1))
    r = client.post("/login", {"email": member.email, "password": PASSWORD, "next": carried})
    assert r.headers["Location"] == "/contracts/3?x=1"
