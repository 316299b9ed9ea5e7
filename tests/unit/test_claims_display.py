"""The claims page's rows: a date claim no datetime can hold must show as it is, never raise."""

import pytest

from ciam_webapp.claims import describe_claims


def _shown(claims):
    return {name: shown for name, shown, _ in describe_claims(claims)}


def test_dates_are_shown_in_utc_with_the_raw_value():
    assert _shown({"exp": 1700000000})["exp"] == "2023-11-14 22:13:20 UTC (1700000000)"


@pytest.mark.parametrize(
    "value", [10**13, -(10**13), 10**400, float("inf"), float("nan"), "1700000000", True, None, [1, 2]]
)
@pytest.mark.parametrize("claim", ["exp", "iat", "nbf", "auth_time"])
def test_a_date_no_datetime_can_hold_is_shown_as_it_is(claim, value):
    shown = _shown({claim: value, "name": "Ada"})
    assert shown[claim] == f"{value!r} (not a valid date)"
    assert shown["name"] == "Ada"
