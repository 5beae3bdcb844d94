"""Paginated reads for the runbooks' hooks: every list the runbooks read follows ``nextToken`` to the end."""

from __future__ import annotations

from typing import Any


class PaginatedReadsMixin:
    """``paginate`` over the hook's boto3 client, with an optional page size (``maxResults``/``MaxResults``).

    :param page_size: items per page of every paginated read; default: the service's own.
    """

    conn: Any

    def __init__(self, *args: Any, page_size: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.page_size = page_size

    def paginate(self, operation: str, result_key: str, **arguments: Any) -> list[Any]:
        """
        Every item of a paginated read, following the continuation token to the last page.

        :param operation: The boto3 method name, e.g. ``list_addons``.
        :param result_key: The list in each page to collect, e.g. ``addons``.
        :return: The items of every page, in the order the service returned them.
        """
        config = {"PageSize": self.page_size} if self.page_size else {}
        pages = self.conn.get_paginator(operation).paginate(**arguments, PaginationConfig=config)
        return [item for page in pages for item in page[result_key]]
