"""Drive the contract builder over HTTP the way a freelancer does."""
from __future__ import annotations

import re

from directcontracts.models import Contract


def create_draft(client, *, name="Carla Client", email="carla@client-co.com", company="Client Co"):
    r = client.post("/contracts", {"client_name": name, "client_email": email, "client_company": company})
    assert r.status_code == 303, r.text
    return int(re.search(r"/contracts/(\d+)/terms", r.location).group(1))


def save_terms(client, cid, *, title="Website redesign", scope="Design and build.", currency="USD",
               kind="milestones", amount="", due_date="", expect=303):
    r = client.post(f"/contracts/{cid}/terms", {"title": title, "scope": scope, "currency": currency,
                                                  "kind": kind, "amount": amount, "due_date": due_date,
                                                  "next": "save"})
    assert r.status_code == expect, r.text
    return r


def add_milestone(client, cid, title, amount, due_date="", description="", htmx=True, expect=200):
    r = client.post(f"/contracts/{cid}/milestones", {"title": title, "amount": amount,
                                                      "due_date": due_date, "description": description},
                    htmx=htmx)
    assert r.status_code == expect, r.text
    return r


def milestone_contract(client, amounts=("1000", "2000", "500"), **terms) -> int:
    cid = create_draft(client)
    save_terms(client, cid, **terms)
    for n, amount in enumerate(amounts, 1):
        add_milestone(client, cid, f"Milestone {n}", amount)
    return cid


def send(client, cid):
    r = client.post(f"/contracts/{cid}/send")
    assert r.status_code == 303 and r.location.endswith(f"/contracts/{cid}"), r.text
    return r


def link_in(email_text: str) -> str:
    return re.search(r"http://localhost(/c/[A-Za-z0-9_\-]+)", email_text).group(1)


def contract(db, cid) -> Contract:
    db.session.expire_all()
    return db.session.get(Contract, cid)
