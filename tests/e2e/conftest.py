"""End-to-end tests: each test keeps the report of each of its phases on its item (``item.rep_setup``,
``item.rep_call``), pytest's documented way for a fixture to learn whether its test failed — the browser tests
save screenshots then."""

from __future__ import annotations

from collections.abc import Generator

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
