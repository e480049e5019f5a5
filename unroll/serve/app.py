"""The Starlette application: pages, JSON endpoints, refusals; ``create_app(runs_dir)``.

    GET  /                               runs table (static/runs.js polls /api/runs)
    GET  /compare?runs=A,B               curves of several runs (static/compare.js)
    GET  /run/NAME                       one run: its curves and its task's page (section + script)
    GET  /study/NAME                     a tuning study (static/study.js; serve/studies.py)
    GET  /page/TASK.js                   the script of a task's page
    GET  /api/runs                       [summary row] of every run folder under RUNS_DIR
    GET  /api/studies                    [study row] of every study folder (unroll tune) under RUNS_DIR
    GET  /api/study/NAME                 the study's trials, parameters and best trial (tune/folder.py's data)
    GET  /api/compare?runs=A,B&group=S  the runs' settings (which differ), each metric's best and last,
                                         the runs grouped by setting S (every run when runs is empty)
    GET  /api/run/NAME/metrics           {"name", "task", "records": [metrics.jsonl records]}
    GET  /api/run/NAME/result            {"name", "result": result.json, {} before the run ends}
    POST /api/run/NAME/CALL              a call of the run's task's page: JSON (classify, tag, translate,
                                         cells, gates, forecast ...) or streamed text (lm: sample)

The server knows no task: a run's task names its page (``Task.page``, a module with ``PAGE``, an
``unroll.command.Page``; unroll/tasks/probes/), and the server routes to its calls.

Refusals are JSON ``{"error": one line}``: 404 for any name that ``runs.resolve`` (``studies.resolve``)
refuses, 422 for a study that cannot be read (kept in --storage, no study.db yet), 400 for a body
that is not a JSON object, 413 for a body or field over its limit, 422 for a value the model cannot take
(the library's own one-line message; also a run folder with a symlink among its checkpoints), 409 for a
run with no checkpoint yet, 503 when every evaluation slot stays busy. Nothing is written under RUNS_DIR.
At most ``slots`` model evaluations run at once (a semaphore); a request waits up to ``wait_s`` for one.
Every model answer names the checkpoint it came from in the ``X-Unroll-Checkpoint`` header.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from unroll.serve import compare, pages, runs, studies
from unroll.tasks import TASKS, get_task, probes

STATIC = Path(__file__).parent / "static"
MAX_BODY = 64 * 1024
CHECKPOINT_HEADER = "X-Unroll-Checkpoint"      # the checkpoint folder a model answer came from


class JSON(JSONResponse):
    """JSONResponse that writes NaN and infinities (a diverged run's figures) as null, as JSON requires."""

    def render(self, content) -> bytes:
        return json.dumps(_finite(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class Slots:
    """At most ``n`` model evaluations at once; ``acquire`` waits up to ``wait_s`` seconds, else Refused 503."""

    def __init__(self, n: int, wait_s: float):
        self.semaphore, self.wait_s, self.n = threading.BoundedSemaphore(n), wait_s, n

    def __enter__(self):
        if not self.semaphore.acquire(timeout=self.wait_s):
            raise probes.Refused(503, f"all {self.n} evaluation slots stayed busy for {self.wait_s:g} s; try again")
        return self

    def __exit__(self, *exc):
        self.semaphore.release()


class Server:
    """The state behind the routes: the runs folder, metrics readers, the model cache, limits, slots."""

    def __init__(self, runs_dir: Path, limits: probes.Limits | None = None, slots: int = 2, wait_s: float = 60.0,
                 checkpoint: str = "last"):
        self.root = Path(runs_dir)
        self.limits, self.slots = limits or probes.Limits(), Slots(slots, wait_s)
        self.models, self.logs = runs.ModelCache(checkpoint=checkpoint), runs.MetricsCache()
        self.table = runs.RowCache(self.logs)                     # the runs table's rows, kept while unchanged
        self.studies = studies.Studies(self.root, self.table)     # the study list, each study's data

    def folder(self, name: str) -> Path:
        return runs.resolve(self.root, name)

    def log(self, run_dir: Path) -> list[dict]:
        return self.logs.read(run_dir)

    def rows(self) -> list[dict]:
        locks = runs.held_locks()
        return [self.table.row(name, self.root / name, locks) for name in runs.discover(self.root)]

    def compare(self, names: list[str], group: str | None) -> dict:
        """GET /api/compare (serve/compare.py): the runs ``names`` (every run when empty) side by side."""
        names = names or runs.discover(self.root)
        if len(names) > compare.MAX_RUNS:
            raise probes.Refused(413, f"'runs' names {len(names)} runs; the limit is {compare.MAX_RUNS}")
        locks, rows = runs.held_locks(), []
        for name in dict.fromkeys(names):
            folder = self.folder(name)
            row = self.table.row(name, folder, locks)                 # the runs table's row, kept while unchanged
            config, steps = runs.config_of(folder), [r for r in self.log(folder) if "event" not in r]
            rows.append({"name": name, "task": row["task"], "state": row["state"], "selection": row["metric"],
                         "settings": compare.settings_of(config), "metrics": compare.metric_summary(steps)})
        return {"runs": rows, "differ": compare.differing([r["settings"] for r in rows]),
                "groups": compare.groups(rows, group) if group else None}

    def model(self, run_dir: Path):
        try:
            return self.models.get(run_dir)
        except ValueError as err:
            raise probes.Refused(409 if "no checkpoint" in str(err) else 422, str(err)) from None


# ----------------------------------------------------------------------------------------------------
# Routes.

def create_app(runs_dir, limits: probes.Limits | None = None, slots: int = 2, wait_s: float = 60.0,
               checkpoint: str = "last") -> Starlette:
    """The app over ``runs_dir``; ``limits`` bound each request, ``slots`` the concurrent evaluations,
    ``checkpoint`` which checkpoint the models come from (last | best, ``RunFolder.load``)."""
    server = Server(runs_dir, limits, slots, wait_s, checkpoint)

    async def runs_page(request):
        return HTMLResponse(pages.runs_page())

    async def compare_page(request):
        return HTMLResponse(pages.compare_page(dict(request.query_params)))

    async def run_page(request):
        name = request.path_params["name"]
        folder = server.folder(name)
        config = runs.config_of(folder)
        task = config.get("task")
        return HTMLResponse(pages.run_page(name, task, _page(task), config.get("input", "tokens")))

    async def api_runs(request):
        return JSON({"runs": await run_in_threadpool(server.rows)})

    async def study_page(request):
        name = request.path_params["name"]
        await run_in_threadpool(server.studies.get, name)        # 404 / 422 before a page that cannot fill
        return HTMLResponse(pages.study_page(name))

    async def api_studies(request):
        return JSON({"studies": await run_in_threadpool(server.studies.rows)})

    async def api_study(request):
        return JSON(await run_in_threadpool(server.studies.get, request.path_params["name"]))

    async def api_metrics(request):
        name = request.path_params["name"]
        folder = server.folder(name)
        config = runs.config_of(folder)
        records = await run_in_threadpool(server.log, folder)
        steps = [r for r in records if "event" not in r]
        return JSON({"name": name, "task": config.get("task"), "records": steps})

    async def api_compare(request):
        query = request.query_params
        names = [n for n in query.get("runs", "").split(",") if n]
        return JSON(await run_in_threadpool(server.compare, names, query.get("group") or None))

    async def api_result(request):
        name = request.path_params["name"]
        folder = server.folder(name)
        return JSON({"name": name, "result": await run_in_threadpool(_result, folder)})

    async def page_script(request):
        page = _page(request.path_params["task"])
        if page is None:
            raise probes.Refused(404, "no task page of that name")
        return FileResponse(page.script, media_type="text/javascript")

    async def api_call(request):
        call = request.path_params["call"]
        folder = server.folder(request.path_params["name"])
        task_name = _config(folder).get("task")
        page = _page(task_name)
        if page is None or (call not in page.calls and call not in page.streams):
            raise probes.Refused(404, f"a {task_name} run has no '{call}'")
        body = await _json_body(request)
        task, model, info = await run_in_threadpool(server.model, folder)
        headers = {CHECKPOINT_HEADER: info["checkpoint_folder"]}
        if call in page.streams:
            request_of, pieces_of = page.streams[call]
            pieces = pieces_of(task, model, request_of(task, body, server.limits))

            def stream():                                 # holds a slot while it runs; released when closed
                with server.slots:
                    yield from pieces
            return StreamingResponse(stream(), media_type="text/plain; charset=utf-8",
                                     headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
                                              **headers})

        def work():
            with server.slots:
                return page.calls[call](task, model, body, server.limits)
        return JSON(await run_in_threadpool(work), headers=headers)

    async def no_icon(request):
        return Response(status_code=204)

    routes = [
        Route("/", runs_page), Route("/favicon.ico", no_icon), Route("/compare", compare_page),
        Route("/run/{name:path}", run_page), Route("/api/runs", api_runs), Route("/api/compare", api_compare),
        Route("/study/{name:path}", study_page), Route("/api/studies", api_studies),
        Route("/api/study/{name:path}", api_study),
        Route("/page/{task:str}.js", page_script), Route("/api/run/{name:path}/metrics", api_metrics),
        Route("/api/run/{name:path}/result", api_result),
        Route("/api/run/{name:path}/{call:str}", api_call, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    handlers = {runs.NotFound: _not_found, probes.Refused: _refused, ValueError: _unprocessable,
                HTTPException: _http_error, Exception: _internal}
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.state.server = server
    return app


def _config(folder: Path) -> dict:
    """The run's config.json for a call that needs its model: a damaged one is a 422 naming it."""
    from unroll.runs import RunFolder
    return RunFolder(folder).read_config()                   # upgraded: unroll 0.1's runs name their task


def _result(folder: Path) -> dict:
    """result.json ({} before the run ends); a damaged one is a 422 naming it."""
    from unroll.runs import RunFolder
    return RunFolder(folder).read_result()


def _page(task_name):
    """The Page of a registered task, or None (an unknown task or one without a page)."""
    return probes.page_of(get_task(task_name)) if task_name in TASKS else None


async def _json_body(request: Request) -> dict:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise probes.Refused(413, f"the request body is over {MAX_BODY} bytes")
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            raise probes.Refused(413, f"the request body is over {MAX_BODY} bytes")
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise probes.Refused(400, "the request body is not JSON") from None
    if not isinstance(body, dict):
        raise probes.Refused(400, f"the request body must be a JSON object, got {type(body).__name__}")
    return body


def _error(status: int, reason: str) -> JSONResponse:
    return JSON({"error": " ".join(str(reason).split())[:500]}, status_code=status)


async def _not_found(request, exc):
    return _error(404, "no run folder of that name")


async def _refused(request, exc):
    return _error(exc.status, exc.reason)


async def _unprocessable(request, exc):
    return _error(422, str(exc))


async def _http_error(request, exc):
    return _error(exc.status_code, exc.detail)


async def _internal(request, exc):
    return _error(500, f"internal error ({type(exc).__name__}); the server log has the details")
