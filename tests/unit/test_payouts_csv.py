"""The payouts CSV cannot carry a formula into the owner's spreadsheet (OWASP CSV injection)."""
from __future__ import annotations

import csv
import io

import pytest

from directcontracts.domain.money import Money
from directcontracts.services.payouts import PayoutRow, to_csv


def row(name: str, email: str = "m@example.com", taken_back: int = 0) -> PayoutRow:
    return PayoutRow(member=name, email=email, period="2026-11", released=Money(10000, "USD"),
                     fees=Money(340, "USD"), taken_back=Money(taken_back, "USD"))


@pytest.mark.parametrize("name", ['=HYPERLINK("http://evil.example","x")', "+1+2", "-2+3", "@SUM(A1)",
                                  "\tTab", "\rCR"])
def test_a_name_that_starts_like_a_formula_is_quoted(name):
    [line] = list(csv.DictReader(io.StringIO(to_csv([row(name)]))))
    assert line["member"] == "'" + name


def test_an_ordinary_name_and_email_are_unchanged():
    [line] = list(csv.DictReader(io.StringIO(to_csv([row("Ada Lovelace", "=ada@example.com")]))))
    assert line["member"] == "Ada Lovelace"
    assert line["email"] == "'=ada@example.com"


def test_a_negative_amount_stays_a_number():
    [line] = list(csv.DictReader(io.StringIO(to_csv([row("Ada", taken_back=20000)]))))
    assert line["net"] == "-103.40"
    assert float(line["net"]) == -103.40
