"""One boto3 session per hook, shared by the hooks of other services it makes for the same connection and region.

The provider's ``AwsBaseHook.get_session`` builds a new boto3 session on every call — and every session parses
its service models anew and, for a connection with ``role_arn``, calls ``sts:AssumeRole`` again. A fleet task that
reads 25 clusters through EKS, EC2 and Elastic Load Balancing would make dozens of them; with this mixin it makes
one session, one AssumeRole and one client per service (BENCHMARKS.md: building them cost 1.1 to 1.5 s per
cluster). The credentials of an assumed role are refreshable: botocore assumes the role again before they expire,
so a long task keeps working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import boto3

H = TypeVar("H", bound="OneSessionMixin")


class OneSessionMixin:
    """``get_session`` returns the same session every time (for the hook's own region, synchronous clients), and
    ``sibling`` makes hooks of other services that share it.

    :param session: a session to use instead of making one (a sibling's), for the hook's connection and region.
    :param page_size: items per page of every paginated read (``PaginatedReadsMixin``), passed on to siblings.
    """

    aws_conn_id: str | None
    region_name: str | None

    def __init__(self, *args: Any, session: boto3.session.Session | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session = session
        self._siblings: dict[type, OneSessionMixin] = {}

    def get_session(self, region_name: str | None = None, deferrable: bool = False) -> Any:
        """The hook's session; another region's, or an async one for triggers, is made as the provider makes it."""
        if deferrable or (region_name is not None and region_name != self.region_name):
            return super().get_session(region_name=region_name, deferrable=deferrable)  # type: ignore[misc]
        if self._session is None:
            self._session = super().get_session(region_name=self.region_name)  # type: ignore[misc]
        return self._session

    def sibling(self, hook_class: type[H]) -> H:
        """The hook of ``hook_class`` for the same connection, region, page size and session, made once."""
        if hook_class not in self._siblings:
            self._siblings[hook_class] = hook_class(
                aws_conn_id=self.aws_conn_id,
                region_name=self.region_name,
                page_size=getattr(self, "page_size", None),
                session=self.get_session(),
            )
        return self._siblings[hook_class]  # type: ignore[return-value]
