"""The Starlette application of ``rhythm ui``: routes, page rendering, actions.

Every page is rendered on the server from a view model (:mod:`rhythm.ui.views`) by a
Jinja2 template with autoescaping on. The executions table reloads itself with htmx
(one list query per interval, the page's own); actions are plain HTML forms posted with
the CSRF field, answered by a redirect (303) to the page they came from, or by that page
again with the error when the runtime refused (an execution that already ended, a bad
filter, a JSON payload that does not parse).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from rhythm.errors import DatabaseError, RhythmError, UnknownName
from rhythm.ui import views
from rhythm.ui.history import history_panel
from rhythm.ui.security import CSRF_FIELD, CSRF_HEADER, Guard, check_request, refused
from rhythm.ui.store import DETAIL_LIMIT, BulkFilters, Store

HERE = Path(__file__).resolve().parent
PAGE_SIZE = 50
REFRESH_SECONDS = 5
WORKER_STALE_AFTER = 60.0  # seconds without a heartbeat before a worker shows as not alive
DONE_MESSAGES = {
    "cancel": "Cancel requested.", "retry": "Retried: the execution runs again.",
    "signal": "Signal sent.", "pause": "Paused.", "resume": "Resumed.",
    "upgrade": "Upgraded: it continues on the latest version.",
    "fork": "Forked: this is the new execution.",
}


@dataclass
class Dashboard:
    """What the routes share: the store, the guard and the template environment."""

    store: Store
    guard: Guard
    env: Environment

    def page(self, request: Request, template: str, status: int = 200, **context: Any
             ) -> HTMLResponse:
        done = DONE_MESSAGES.get(request.query_params.get("done", ""))
        html = self.env.get_template(template).render(
            csrf=self.guard.csrf_token(), read_only=self.guard.read_only,
            refresh_seconds=REFRESH_SECONDS, done=done, path=request.url.path, **context)
        return HTMLResponse(html, status_code=status)


def make_env() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    return env


def _filters(request: Request) -> dict[str, str]:
    """The list filters the request gives (blank fields are "any")."""
    params = request.query_params
    return {k: params[k].strip() for k in views.FILTER_FIELDS if params.get(k, "").strip()}


async def _form(dash: Dashboard, request: Request) -> dict[str, str] | Response:
    """The posted form once the action is allowed: read-only and CSRF checked."""
    if dash.guard.read_only:
        return refused(403, "the dashboard is read-only (rhythm ui --read-only)")
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    given = request.headers.get(CSRF_HEADER) or fields.get(CSRF_FIELD)
    if not dash.guard.csrf_ok(given):
        return refused(403, "missing or bad CSRF token: reload the page and try again")
    return fields


def _see_other(path: str, **query: str) -> RedirectResponse:
    return RedirectResponse(path + ("?" + urlencode(query) if query else ""), status_code=303)


def routes(dash: Dashboard) -> list[Route | Mount]:
    store = dash.store

    async def home(request: Request) -> Response:
        return _see_other("/executions")

    async def listing(request: Request, template: str) -> Response:
        filters = _filters(request)
        after = request.query_params.get("after") or None
        try:
            page = await run_in_threadpool(store.list_page, filters, after, PAGE_SIZE)
        except DatabaseError:
            raise
        except RhythmError as err:
            view = views.list_view(filters, None, None, str(err))
            return dash.page(request, template, status=400, view=view)
        return dash.page(request, template, view=views.list_view(filters, after, page))

    async def executions(request: Request) -> Response:
        return await listing(request, "executions.html")

    async def execution_rows(request: Request) -> Response:
        return await listing(request, "_rows.html")

    async def bulk(request: Request) -> Response:
        form = await _form(dash, request)
        if isinstance(form, Response):
            return form
        action = form.get("action", "")
        if action not in ("retry", "cancel"):
            return refused(400, "action must be retry or cancel")
        filters = {k: form[k].strip() for k in views.BULK_FIELDS if form.get(k, "").strip()}
        dry_run = form.get("confirmed") != "yes"
        try:
            result = await run_in_threadpool(store.bulk, action, BulkFilters(**filters),
                                             dry_run)
        except DatabaseError:
            raise
        except RhythmError as err:
            view = views.list_view(filters, None, None, str(err))
            return dash.page(request, "executions.html", status=400, view=view)
        return dash.page(request, "bulk.html", view=views.bulk_view(result, filters))

    async def show_execution(request: Request, execution_id: str, error: str | None = None,
                             status: int = 200, signal: tuple[str, str] = ("", "null")
                             ) -> Response:
        try:
            view = await run_in_threadpool(_execution_view, store, execution_id)
        except UnknownName as err:
            return dash.page(request, "missing.html", status=404, message=str(err))
        step = request.query_params.get("step")
        panel = await run_in_threadpool(history_panel, store, view, step)
        return dash.page(request, "execution.html", status=status, view=view, history=panel,
                         children_limit=DETAIL_LIMIT,
                         error=error, signal_name=signal[0], signal_payload=signal[1])

    async def execution(request: Request) -> Response:
        return await show_execution(request, request.query_params.get("id", ""))

    async def execution_children(request: Request) -> Response:
        """One level of the tree, when a workflow's node is opened (htmx): its tasks and
        children, through executions_parent; one query."""
        rows = await run_in_threadpool(store.children, request.query_params.get("id", ""))
        return dash.page(request, "_children.html", children=views.child_views(rows),
                         more=len(rows) >= DETAIL_LIMIT, limit=DETAIL_LIMIT)

    def execution_action(action: str) -> Callable[[Request], Any]:
        async def act(request: Request) -> Response:
            form = await _form(dash, request)
            if isinstance(form, Response):
                return form
            execution_id = form.get("id", "")
            try:
                await run_in_threadpool(_execution_act, store, action, execution_id, form)
            except DatabaseError:
                raise
            except (RhythmError, ValueError) as err:  # (the page again, with what was typed)
                typed = (form.get("name", ""), form.get("payload", ""))
                return await show_execution(request, execution_id, str(err), 409, typed)
            return _see_other("/execution", id=execution_id, done=action)
        return act

    async def upgrade(request: Request) -> Response:
        """"Upgrade to latest": the first post is the dry run, answered by its verdict and,
        when compatible, a confirmation naming the version; only that confirmation moves
        the execution (onto the version it named, not one registered since)."""
        form = await _form(dash, request)
        if isinstance(form, Response):
            return form
        execution_id, to_version = form.get("id", ""), form.get("to") or None
        confirmed = form.get("confirmed") == "yes"
        try:
            if to_version is None:
                to_version = await run_in_threadpool(store.latest_version_of, execution_id)
            outcome = await run_in_threadpool(store.upgrade, execution_id, to_version,
                                              not confirmed)
        except DatabaseError:
            raise
        except RhythmError as err:
            return await show_execution(request, execution_id, str(err), 409)
        if not confirmed:
            view = views.upgrade_view(outcome, to_version or "")
            return dash.page(request, "upgrade.html", view=view)
        if outcome.outcome != "moved":
            return await show_execution(request, execution_id, outcome.line(), 409)
        return _see_other("/execution", id=execution_id, done="upgrade")

    async def fork(request: Request) -> Response:
        """"Fork from step N": a new execution from the snapshot of step N (on the same
        version, or the latest one when asked); its page is shown next."""
        form = await _form(dash, request)
        if isinstance(form, Response):
            return form
        execution_id = form.get("id", "")
        try:
            step = int(form.get("step", ""))
            to_version = None
            if form.get("latest") == "yes":
                to_version = await run_in_threadpool(store.latest_version_of, execution_id)
            made = await run_in_threadpool(store.fork, execution_id, step, to_version)
        except DatabaseError:
            raise
        except (RhythmError, ValueError) as err:
            message = str(err) if isinstance(err, RhythmError) else "the step is not a number"
            return await show_execution(request, execution_id, message, 409)
        return _see_other("/execution", id=made, done="fork")

    async def queues(request: Request) -> Response:
        found = await run_in_threadpool(store.queues)
        return dash.page(request, "queues.html",
                         view=views.queues_view(found, store.clock.now()))

    async def queue_pause(request: Request) -> Response:
        form = await _form(dash, request)
        if isinstance(form, Response):
            return form
        paused, name = form.get("paused") == "yes", form.get("name", "").strip()
        if not name:
            return refused(400, "a queue name cannot be empty")
        await run_in_threadpool(store.pause_queue, name, paused)
        return _see_other("/queues", done="pause" if paused else "resume")

    async def workers(request: Request) -> Response:
        rows = await run_in_threadpool(store.workers)
        found = views.worker_views(rows, store.clock.now(), WORKER_STALE_AFTER)
        return dash.page(request, "workers.html", workers=found)

    async def schedules(request: Request) -> Response:
        rows = await run_in_threadpool(store.schedules)
        return dash.page(request, "schedules.html", schedules=views.schedule_views(rows))

    async def schedule_pause(request: Request) -> Response:
        form = await _form(dash, request)
        if isinstance(form, Response):
            return form
        paused = form.get("paused") == "yes"
        try:
            await run_in_threadpool(store.pause_schedule, form.get("name", ""), paused)
        except UnknownName as err:
            return refused(404, str(err))
        return _see_other("/schedules", done="pause" if paused else "resume")

    return [
        Route("/", home),
        Route("/executions", executions),
        Route("/executions/rows", execution_rows),
        Route("/executions/bulk", bulk, methods=["POST"]),
        Route("/execution", execution),
        Route("/execution/children", execution_children),
        Route("/execution/cancel", execution_action("cancel"), methods=["POST"]),
        Route("/execution/retry", execution_action("retry"), methods=["POST"]),
        Route("/execution/signal", execution_action("signal"), methods=["POST"]),
        Route("/execution/upgrade", upgrade, methods=["POST"]),
        Route("/execution/fork", fork, methods=["POST"]),
        Route("/queues", queues),
        Route("/queues/pause", queue_pause, methods=["POST"]),
        Route("/workers", workers),
        Route("/schedules", schedules),
        Route("/schedules/pause", schedule_pause, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]


def _execution_view(store: Store, execution_id: str) -> views.ExecutionView:
    row = store.execution(execution_id)
    children = store.children(execution_id)
    pending: list[dict[str, Any]] = []
    signals: list[dict[str, Any]] = []
    source = None
    if row["kind"] == "workflow":
        pending = store.pending(execution_id)
        signals = store.buffered_signals(execution_id)
        if row["version"]:
            source = store.source(row["name"], row["version"])
    view = views.execution_view(row, children, pending, signals, source)
    if row["kind"] == "workflow" and row["status"] == "suspended" and row["version"]:
        view.latest_version = store.current_version(row["name"]) or ""
        view.can_upgrade = view.latest_version not in ("", row["version"])
    return view


def _execution_act(store: Store, action: str, execution_id: str, form: dict[str, str]
                   ) -> None:
    if action == "cancel":
        store.cancel(execution_id)
    elif action == "retry":
        store.retry(execution_id)
    else:
        name = form.get("name", "").strip()
        if not name:
            raise ValueError("a signal needs a name")
        try:
            payload = json.loads(form.get("payload", "") or "null")
        except json.JSONDecodeError as err:
            raise ValueError(f"the payload is not JSON: {err}") from None
        store.signal(execution_id, name, payload)


def create_app(store: Store, guard: Guard) -> Starlette:
    """The dashboard over ``store``, guarded by ``guard``."""
    dash = Dashboard(store, guard, make_env())

    async def guarded(request: Request, call_next: Any) -> Response:
        return await check_request(guard, request, call_next)

    async def database_down(request: Request, exc: Exception) -> Response:
        return dash.page(request, "missing.html", status=503, message=str(exc))

    return Starlette(routes=routes(dash),
                     middleware=[Middleware(BaseHTTPMiddleware, dispatch=guarded)],
                     exception_handlers={DatabaseError: database_down})
