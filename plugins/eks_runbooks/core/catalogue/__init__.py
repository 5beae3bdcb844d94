"""The one check framework every runbook uses: a catalogue entry in include/checks/ plus one small function.

- ``results``: what a check answers (``Status``, ``Outcome`` and its builders) and how severe it is (``Severity``);
- ``registry``: ``CheckRegistry`` — a runbook's ``@check("ID")`` decorator and its functions by id;
- ``loader``: reading a catalogue file strictly (every field, no unknown key, ids in UPPER-KEBAB, no duplicates)
  and holding it against its registry both ways.

Adding a check = one catalogue entry + one registered function + its passing and failing tests. What a check is
given (pre-flight inputs, audit facts) and how its results are joined with the entry stay with each runbook.
"""

from eks_runbooks.core.catalogue.loader import (
    CHECK_ID,
    CatalogueError,
    check_against_registry,
    load_catalogue_entries,
)
from eks_runbooks.core.catalogue.registry import CheckRegistry
from eks_runbooks.core.catalogue.results import (
    Outcome,
    Severity,
    Status,
    failed,
    listed,
    noted,
    passed,
    skipped,
    warned,
)

__all__ = [
    "CHECK_ID",
    "CatalogueError",
    "CheckRegistry",
    "Outcome",
    "Severity",
    "Status",
    "check_against_registry",
    "failed",
    "listed",
    "load_catalogue_entries",
    "noted",
    "passed",
    "skipped",
    "warned",
]
