"""Keep the tests of an ``xdist_group`` on one pytest-xdist worker under pytest 9.2 (a conftest hook).

pytest-xdist's ``--dist loadgroup`` finds a test's group in a suffix (``test_x@group``) that its worker adds to the
test's node id. pytest 9.2 keeps node ids in ``Node._id`` (a structured ``NodeId``); pytest-xdist 3.8.0 still
writes the old ``_nodeid`` attribute, so the suffix is lost and every test is scheduled on its own: both workers
ran the end-to-end modules and each built the module's ``airflow standalone`` (pytest-dev/pytest-xdist#1386, fix
proposed in #1388). This adds the suffix the way pytest 9.2 keeps node ids, and does nothing where pytest-xdist's
own suffix took (before pytest 9.2, or once pytest-xdist is fixed).
"""

from __future__ import annotations

import pytest


def _group_of(item: pytest.Item) -> str | None:
    """The group name pytest-xdist gives ``item``: its ``xdist_group`` names, sorted and joined (its own rule)."""
    names = {
        str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        for mark in item.iter_markers("xdist_group")
    }
    return "_".join(sorted(names)) or None


def _has_group_suffix(nodeid: str) -> bool:
    """Whether ``nodeid`` already ends in ``@group`` (pytest-xdist's test: an ``@`` after any ``]``)."""
    return nodeid.rfind("@") > nodeid.rfind("]")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a ``--dist loadgroup`` worker, give each grouped test the ``@group`` suffix pytest-xdist could not."""
    if not getattr(config.option, "loadgroup", False):  # set on pytest-xdist's workers only
        return
    for item in items:
        group = _group_of(item)
        if group is None or _has_group_suffix(item.nodeid) or not hasattr(item, "_id"):
            continue
        from _pytest.nodeid import NodeId

        item._id = NodeId.parse(f"{item.nodeid}@{group}")
