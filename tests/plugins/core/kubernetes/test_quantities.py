"""Kubernetes resource quantities as the API serves them, read into the units the cost audit counts in."""

from __future__ import annotations

from decimal import Decimal

import pytest

from eks_runbooks.core.kubernetes.quantities import cpu_millicores, memory_mebibytes, parse_quantity


@pytest.mark.parametrize(
    ("quantity", "value"),
    [
        ("4", Decimal(4)),
        ("250m", Decimal("0.25")),
        ("0.5", Decimal("0.5")),
        ("16777216Ki", Decimal(16777216 * 1024)),
        ("512Mi", Decimal(512 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("1G", Decimal(10**9)),
        ("1k", Decimal(1000)),
        ("1e3", Decimal(1000)),
        ("1.5E-3", Decimal("0.0015")),
        ("100n", Decimal("0.0000001")),
        ("10u", Decimal("0.00001")),
        ("+2", Decimal(2)),
        (".5", Decimal("0.5")),
        (3, Decimal(3)),
    ],
)
def test_a_quantity_in_any_of_the_apis_suffixes_reads_as_its_value(quantity, value):
    assert parse_quantity(quantity) == value


@pytest.mark.parametrize("quantity", ["", "abc", "5 Mi", "1KiB", "1.2.3", "m"])
def test_a_malformed_quantity_is_refused_naming_it(quantity):
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity(quantity)


def test_cpu_reads_in_millicores_rounded_up_as_kubernetes_rounds_milli_values():
    assert cpu_millicores("2") == 2000
    assert cpu_millicores("250m") == 250
    assert cpu_millicores("0.0001") == 1  # resource.Quantity.MilliValue rounds up


def test_memory_reads_in_mebibytes_up_for_requests_down_for_room():
    assert memory_mebibytes("16777216Ki") == 16384
    assert memory_mebibytes("1G") == 954  # 953.67 MiB requested needs 954
    assert memory_mebibytes("1G", round_up=False) == 953  # of 953.67 MiB allocatable, 953 can be promised
