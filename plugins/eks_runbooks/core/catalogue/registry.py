"""A runbook's check functions by catalogue id, filled by its ``@registry.check("ID")`` decorators."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from eks_runbooks.core.catalogue.loader import CHECK_ID

F = TypeVar("F", bound=Callable)


class CheckRegistry(dict[str, F]):
    """The check functions of one catalogue, by id (``name`` says which catalogue, in errors)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def check(self, check_id: str) -> Callable[[F], F]:
        """Register the decorated function as the check of catalogue entry ``check_id``."""
        if not CHECK_ID.match(check_id):
            raise ValueError(f"{self.name} check id {check_id!r} is not UPPER-KEBAB (e.g. EKS-IMDSV2)")

        def register(function: F) -> F:
            if check_id in self:
                raise ValueError(f"{self.name} check {check_id} is registered twice ({self[check_id].__name__})")
            self[check_id] = function
            return function

        return register
