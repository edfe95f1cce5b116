"""Seed a running server for a scan: a member (the owner) and a contract sent to a client who has
verified their email; prints JSON with the cookies and URLs of each.

    python -m tests.tools.seed BASE_URL      (the server's DATABASE_URL and SECRET_KEY in the environment)
"""
from __future__ import annotations

import json
import sys

from directcontracts import create_app
from directcontracts.services import accounts
from tests.tools.browser import PASSWORD, Browser, Outbox, build_contract, login, send_contract, verify_client

MEMBER = "fran@example.com"
CLIENT = "carla@client-co.com"


def seed(app, base: str) -> dict:
    """The member's and the client's browsers on ``base``; returns their cookies and start URLs."""
    with app.app_context():
        if accounts.find_member_by_email(MEMBER) is None:
            accounts.create_member(MEMBER, "Fran Freelancer", PASSWORD, owner=accounts.member_count() == 0)
    outbox = Outbox(app)
    member = Browser(base)
    login(member, MEMBER)
    cid = build_contract(member, CLIENT)
    link = send_contract(member, outbox, cid, CLIENT)
    draft = build_contract(member, "dora@client-co.com", title="A draft")  # the builder has something to show
    client = Browser(base)
    verify_client(client, outbox, link, CLIENT, cid)
    return {
        "member": {"cookie": member.cookie_header(), "urls": [f"{base}/contracts", f"{base}/contracts/{cid}",
                                                               f"{base}/contracts/{draft}/terms"]},
        "client": {"cookie": client.cookie_header(), "urls": [f"{base}{link}"]},
        "contract_ids": [cid, draft],
    }


def main() -> None:
    app = create_app()
    print(json.dumps(seed(app, sys.argv[1]), indent=2))


if __name__ == "__main__":
    main()
