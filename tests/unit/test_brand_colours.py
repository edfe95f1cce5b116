"""The accent colour's rules: only #rrggbb, and text on it that always keeps WCAG AA contrast."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from directcontracts.domain import brand


def test_contrast_matches_wcag_reference_values():
    assert brand.contrast("#000000", "#ffffff") == pytest.approx(21)
    assert brand.contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic "just fails" grey
    assert brand.contrast("#1a5fd1", "#1a5fd1") == pytest.approx(1)


@pytest.mark.parametrize("accent, text", [("#ffee00", brand.BLACK), ("#0b6e4f", brand.WHITE),
                                          ("#1a5fd1", brand.WHITE), ("#ffffff", brand.BLACK),
                                          ("#000000", brand.WHITE), ("#ff7f50", brand.BLACK)])
def test_text_on_the_accent_is_the_readable_one(accent, text):
    assert brand.text_on(accent) == text


@given(st.integers(0, 0xFFFFFF))
def test_every_accent_gets_text_of_at_least_aa_contrast(value):
    accent = f"#{value:06x}"
    assert brand.contrast(accent, brand.text_on(accent)) >= brand.AA_NORMAL_TEXT


@given(st.integers(0, 0xFFFFFF))
def test_links_in_the_accent_stay_readable_on_white(value):
    accent = f"#{value:06x}"
    ink = brand.ink_on_white(accent)
    assert ink in (accent, brand.DARK_INK)
    assert brand.contrast(ink, brand.WHITE) >= brand.AA_NORMAL_TEXT


@pytest.mark.parametrize("typed, stored", [("#0B6E4F", "#0b6e4f"), ("  #abcdef ", "#abcdef")])
def test_a_colour_is_stored_lower_case(typed, stored):
    assert brand.parse_colour(typed) == stored


@pytest.mark.parametrize("typed", ["red", "#abc", "0b6e4f", "#0b6e4g", "#0b6e4f0", "rgb(1,2,3)", "",
                                   "#0b6e4f;}body{display:none", "#０b6e4f"])
def test_anything_but_hash_and_six_hex_digits_is_refused(typed):
    with pytest.raises(brand.ColourError):
        brand.parse_colour(typed)


def test_logo_size_limits():
    assert brand.logo_size_problem(16, 16) is None
    assert brand.logo_size_problem(2000, 2000) is None
    assert "15 × 40" in brand.logo_size_problem(15, 40)
    assert brand.logo_size_problem(2001, 100) is not None
    assert brand.shown_width(300, 100) == 120
