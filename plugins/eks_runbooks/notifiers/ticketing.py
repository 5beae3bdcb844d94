"""Tell the ticketing system that started a runbook how the run ended.

A ticketing system triggers a runbook through the REST API with ``ticket_id`` in the run's conf. When the run
ends, :class:`TicketingNotifier` (a DAG's ``on_success_callback``/``on_failure_callback``) posts
``{"ticket_id", "dag_id", "run_id", "state", "summary", "report_url"}`` as JSON to the HTTP connection
``ticketing_default``. Best effort by design: a runbook that upgraded a cluster must not turn red because the
ticketing system is down, so every failure to post is one warning in the log and nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context

#: Seconds to wait for the ticketing system (connect and read each); it is told, never waited for.
DEFAULT_TIMEOUT = 5.0


class TicketingNotifier(BaseNotifier):
    """
    Post the end of a runbook run to the ticketing system that started it (when the run has a ticket id).

    The ticket id comes from the run's conf (``ticket_id``), else from its params. Runs without one are left
    alone. The summary is the DagRun note when the run set one, else one line naming the DAG, run and state.

    :param http_conn_id: the Airflow HTTP connection of the ticketing system: host (with scheme), optional
        login/password (basic auth) and extra (request headers, as the http provider reads them). When the
        connection does not exist, nothing is sent. (templated)
    :param endpoint: path posted to, relative to the connection's host. (templated)
    :param report_url: a callable ``context -> str | None`` giving the run's report URL; takes precedence
        over ``report_task_id``.
    :param summary: a callable ``context -> str | None`` giving the run's one-line summary (for example read
        from its report). Where Airflow runs DAG callbacks the DagRun's note is not loaded, so a runbook that
        writes a report should pass this; the note and then a generic line are the fallbacks.
    :param report_task_id: the task that pushed the report URL to XCom (key ``report_url_key``). Read where
        Airflow runs DAG callbacks (the DAG processor); ``dag.test()`` runs them without the task supervisor, so
        there the XCom read fails and the ticket gets no report URL (one warning). A ``report_url`` callable
        that derives the URL (:class:`~eks_runbooks.runs.reports.ReportLocation`) works in both.
    :param report_url_key: the XCom key of the report URL.
    :param timeout: seconds before giving up on the ticketing system.
    """

    template_fields: Sequence[str] = ("http_conn_id", "endpoint")

    def __init__(
        self,
        *,
        http_conn_id: str = "ticketing_default",
        endpoint: str = "/",
        report_url: Callable[[Context], str | None] | None = None,
        summary: Callable[[Context], str | None] | None = None,
        report_task_id: str | None = None,
        report_url_key: str = "report_url",
        timeout: float = DEFAULT_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.http_conn_id = http_conn_id
        self.endpoint = endpoint
        self.report_url = report_url
        self.summary = summary
        self.report_task_id = report_task_id
        self.report_url_key = report_url_key
        self.timeout = timeout

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        """Render ``template_fields``; also under ``dag.test()``/``airflow dags test``, unlike BaseNotifier.

        There (Airflow 3.1 to 3.3 at least) the callback's ``context["dag"]`` is the scheduler's SerializedDAG,
        which has no ``get_template_env``, and BaseNotifier fails before ``notify`` (apache/airflow#64649).
        """
        if jinja_env is None and not hasattr(context.get("dag"), "get_template_env"):
            jinja_env = self.get_template_env(dag=None)
        super().render_template_fields(context, jinja_env)

    def notify(self, context: Context) -> None:
        """Post the run's outcome to its ticket; log, never raise, when that is not possible."""
        try:
            ticket_id = ticket_id_of(context)
            if ticket_id is None:
                return
            self._post(ticket_id, context)
        except Exception as error:
            # Deliberately broad: whatever went wrong, the runbook's outcome stands.
            self.log.warning(
                "Ticket notification via connection %r failed (%s); the run's outcome is unchanged",
                self.http_conn_id,
                type(error).__name__,
            )

    def ticket_payload(self, ticket_id: str, context: Context) -> dict[str, Any]:
        """The JSON document posted for ``ticket_id``."""
        dag_run = context.get("dag_run")
        dag = context.get("dag")
        dag_id = getattr(dag, "dag_id", None) or getattr(dag_run, "dag_id", None)
        run_id = context.get("run_id") or getattr(dag_run, "run_id", None)
        state = run_state_of(context)
        summary = self._summary(context) or (getattr(dag_run, "note", None) or "").strip()
        return {
            "ticket_id": ticket_id,
            "dag_id": dag_id,
            "run_id": run_id,
            "state": state,
            "summary": summary or f"{dag_id} run {run_id} finished: {state}",
            "report_url": self._report_url(context),
        }

    def _post(self, ticket_id: str, context: Context) -> None:
        from airflow.providers.http.hooks.http import HttpHook
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            HttpHook.get_connection(self.http_conn_id)
        except AirflowNotFoundException:
            self.log.info("No connection %r: ticket %s is not notified", self.http_conn_id, ticket_id)
            return
        payload = self.ticket_payload(ticket_id, context)
        hook = HttpHook(method="POST", http_conn_id=self.http_conn_id)
        # check_response=False: the hook would log the response body at ERROR and raise; one warning is enough.
        response = hook.run(
            endpoint=self.endpoint,
            json=payload,
            extra_options={"timeout": self.timeout, "check_response": False},
        )
        if response.status_code >= 400:
            self.log.warning(
                "Ticketing system answered HTTP %s %s for ticket %s (connection %r); not retried",
                response.status_code,
                response.reason,
                ticket_id,
                self.http_conn_id,
            )
            return
        self.log.info("Ticket %s told run %s ended %s", ticket_id, payload["run_id"], payload["state"])

    def _summary(self, context: Context) -> str | None:
        if self.summary is None:
            return None
        try:
            return (self.summary(context) or "").strip() or None
        except Exception as error:
            self.log.warning("No run summary for the ticket (%s); using the note", type(error).__name__)
            return None

    def _report_url(self, context: Context) -> str | None:
        try:
            if self.report_url is not None:
                return self.report_url(context)
            ti = context.get("ti")
            if self.report_task_id and ti is not None:
                return ti.xcom_pull(task_ids=self.report_task_id, key=self.report_url_key)
        except Exception as error:
            self.log.warning("No report URL for the ticket (%s); sending without one", type(error).__name__)
        return None


def ticket_id_of(context: Context) -> str | None:
    """The run's ticket id: ``ticket_id`` in its conf, else in its params; None when there is none."""
    dag_run = context.get("dag_run")
    for source in (getattr(dag_run, "conf", None), context.get("params")):
        value = (source or {}).get("ticket_id")
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def run_state_of(context: Context) -> str:
    """``success`` or ``failed`` (the DagRun's state; from the callback's reason when there is no DagRun)."""
    state = getattr(context.get("dag_run"), "state", None)
    if state is not None:
        return str(getattr(state, "value", state))
    return "success" if context.get("reason") == "success" else "failed"
