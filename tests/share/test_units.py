"""Outcome quantities: validated, normalised to kg, L and count, refused with clear messages."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigia.errors import InputError
from vigia.share.units import OUTCOMES, Quantity, normalise_outcome, normalise_quantity


@pytest.mark.parametrize(
    ("amount", "unit", "kg"),
    [(2.0, "kg", 2.0), (500.0, "g", 0.5), (10.0, "lb", 4.5359237), (16.0, "oz", 0.45359237),
     (1.5, "t", 1500.0), (3.0, "kilos", 3.0), (2.0, "lbs", 0.90718474)],
)  # fmt: skip
def test_powder_masses_become_kilograms(amount: float, unit: str, kg: float) -> None:
    q = normalise_quantity("powder", amount, unit)
    assert q.unit == "kg"
    assert q.amount == pytest.approx(kg)
    assert (q.original_amount, q.original_unit) == (amount, unit)


@pytest.mark.parametrize(
    ("amount", "unit", "litres"),
    [(250.0, "mL", 0.25), (3.0, "L", 3.0), (1.0, "gal", 3.785411784), (1.0, "m³", 1000.0),
     (2.0, "m^3", 2000.0), (1.0, "imperial_gallon", 4.54609)],
)  # fmt: skip
def test_precursor_volumes_become_litres(amount: float, unit: str, litres: float) -> None:
    q = normalise_quantity("precursor", amount, unit)
    assert q.unit == "L"
    assert q.amount == pytest.approx(litres)


def test_precursor_by_mass_keeps_its_dimension() -> None:
    q = normalise_quantity("precursor", 20.0, "lb")
    assert q.unit == "kg"
    assert q.amount == pytest.approx(9.0718474)


@pytest.mark.parametrize("unit", ["pills", "tablets", "count", "units", "ea", "Pills"])
def test_pills_are_counted(unit: str) -> None:
    q = normalise_quantity("pills", 1200, unit)
    assert (q.amount, q.unit) == (1200.0, "count")


def test_equipment_is_counted() -> None:
    assert normalise_quantity("equipment", 3, "pieces").unit == "count"


def test_a_mass_of_pills_is_refused_naming_item_amount_unit_and_accepted_units() -> None:
    with pytest.raises(InputError) as err:
        normalise_quantity("pills", 2.0, "kg")
    text = str(err.value)
    assert "pills" in text and "2.0" in text and "'kg'" in text and "tablets" in text


@pytest.mark.parametrize(
    ("item", "unit"),
    [("powder", "L"), ("powder", "pills"), ("equipment", "kg"), ("precursor", "count")],
)
def test_a_unit_of_the_wrong_dimension_is_refused(item: str, unit: str) -> None:
    with pytest.raises(InputError, match=item):
        normalise_quantity(item, 1.0, unit)


@pytest.mark.parametrize("unit", ["furlong", "K", "degC", "", "  ", "kg kg", "2kg", "bananas"])
def test_unknown_units_are_refused_with_the_accepted_ones(unit: str) -> None:
    with pytest.raises(InputError, match="accepted"):
        normalise_quantity("powder", 1.0, unit)


@pytest.mark.parametrize("amount", [-1.0, 0.0, math.nan, math.inf, -math.inf])
def test_amounts_must_be_finite_and_positive(amount: float) -> None:
    with pytest.raises(InputError, match="finite and positive"):
        normalise_quantity("powder", amount, "kg")


def test_counts_must_be_whole() -> None:
    with pytest.raises(InputError, match="whole"):
        normalise_quantity("pills", 10.5, "pills")


def test_unknown_items_are_refused() -> None:
    with pytest.raises(InputError, match="unknown item"):
        normalise_quantity("cash", 100.0, "count")


def test_a_seizure_needs_quantities() -> None:
    with pytest.raises(InputError, match="at least one quantity"):
        normalise_outcome("seizure", [])


@pytest.mark.parametrize("outcome", [o for o in OUTCOMES if o != "seizure"])
def test_quantities_belong_to_seizures_only(outcome: str) -> None:
    assert normalise_outcome(outcome) == ()
    with pytest.raises(InputError, match="only a 'seizure'"):
        normalise_outcome(outcome, [{"item": "powder", "amount": 1.0, "unit": "kg"}])


def test_an_unknown_outcome_is_refused() -> None:
    with pytest.raises(InputError, match="outcomes: dismantled"):
        normalise_outcome("arrested")


def test_a_seizure_is_normalised_item_by_item_and_errors_name_the_entry() -> None:
    qs = normalise_outcome(
        "seizure",
        [
            {"item": "powder", "amount": 22.0, "unit": "lb"},
            {"item": "precursor", "amount": 5.0, "unit": "gal"},
            {"item": "pills", "amount": 3000, "unit": "tablets"},
        ],
    )
    assert [(q.item, q.unit) for q in qs] == [
        ("powder", "kg"),
        ("precursor", "L"),
        ("pills", "count"),
    ]
    with pytest.raises(InputError, match="quantity 1"):
        normalise_outcome(
            "seizure",
            [{"item": "powder", "amount": 1.0, "unit": "kg"}, {"item": "pills", "amount": 1.0}],
        )


masses = st.sampled_from(["g", "kg", "lb", "oz", "t"])
amounts = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False)


@given(amounts, masses)
def test_normalising_is_deterministic_and_round_trips_through_a_dict(
    amount: float, unit: str
) -> None:
    q = normalise_quantity("powder", amount, unit)
    assert q == normalise_quantity("powder", amount, unit)
    assert Quantity.from_dict(q.to_dict()) == q
    assert q.amount > 0


@given(amounts)
def test_a_pound_is_always_less_than_a_kilogram_of_the_same_number(amount: float) -> None:
    assert (
        normalise_quantity("powder", amount, "lb").amount
        < normalise_quantity("powder", amount, "kg").amount
    )
