"""Kubernetes resource quantities (``250m``, ``16777216Ki``, ``1e3``) read into numbers.

The grammar is apimachinery's (k8s.io/apimachinery/pkg/api/resource/quantity.go): a signed decimal number and
one suffix — binary SI (Ki … Ei), decimal SI (n, u, m, "", k, M … E) or a decimal exponent (``e3``, ``E-3``).
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

_QUANTITY = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?")
_SUFFIX = {
    None: Decimal(1),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
}
MEBIBYTE = Decimal(2**20)


def parse_quantity(quantity: str | int | float) -> Decimal:
    """The value of a quantity (cores for cpu, bytes for memory, a count for pods)."""
    match = _QUANTITY.fullmatch(str(quantity).strip())
    if not match:
        raise ValueError(f"{quantity!r} is not a Kubernetes quantity (e.g. 250m, 512Mi, 2)")
    number, suffix = Decimal(match.group(1)), match.group(2)
    if suffix and suffix[0] in "eE" and len(suffix) > 1:
        return number.scaleb(int(suffix[1:]))
    return number * _SUFFIX[suffix]


def cpu_millicores(quantity: str | int | float) -> int:
    """CPU in millicores, rounded up as ``Quantity.MilliValue`` rounds."""
    return int((parse_quantity(quantity) * 1000).to_integral_value(ROUND_CEILING))


def memory_mebibytes(quantity: str | int | float, *, round_up: bool = True) -> int:
    """Memory in MiB: rounded up for what a pod needs, down (``round_up=False``) for what a node offers."""
    return int((parse_quantity(quantity) / MEBIBYTE).to_integral_value(ROUND_CEILING if round_up else ROUND_FLOOR))
