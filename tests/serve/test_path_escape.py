"""serve never leaves RUNS_DIR (issue 29), whatever the shape of the name: nested names, `..` in any
position, percent-encoded dots and separators, backslashes, absolute paths and symlinks that point
outside. RUNS_DIR holds a real run `group/run` and its twin `group/twin`; beside RUNS_DIR lie a copy of
the twin (`outside/evil`, a valid run folder) and a secret file. The twin's metrics carry a marker, so a
response that reached the outside copy shows it; the requests go to the ASGI app with the path exactly as
written (no client normalises the dots away), the way a server hands over what a client sent."""

import asyncio
import json
import shutil
from urllib.parse import unquote

import pytest

from unroll.cli import main
from unroll.serve.app import create_app

MARKER = "TOPSECRET-7f3a"


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    top = tmp_path_factory.mktemp("escape")
    (top / "t.txt").write_text("the quick brown fox jumps over the lazy dog. " * 10)
    runs = top / "runs"
    assert main(["train", "--data", str(top / "t.txt"), "--hidden", "4", "--layers", "1", "--seq-len", "8",
                 "--batch", "2", "--max-steps", "2", "--eval-every", "2", "--quiet", "--out",
                 str(runs / "group" / "run")]) == 0
    shutil.copytree(runs / "group" / "run", runs / "group" / "twin")
    with open(runs / "group" / "twin" / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 3, "train_loss": 1.0, "note": MARKER}) + "\n")
    shutil.copytree(runs / "group" / "twin", top / "outside" / "evil")
    (top / "secret.txt").write_text(MARKER + "\n")
    (top / "outside" / "secret.txt").write_text(MARKER + "\n")
    (runs / "link").symlink_to(top / "outside" / "evil", target_is_directory=True)      # a run outside
    (runs / "group" / "up").symlink_to(top, target_is_directory=True)                   # a folder above
    (runs / "group" / "run" / "escape").symlink_to(top / "outside", target_is_directory=True)
    (runs / "secret.txt").symlink_to(top / "secret.txt")
    return top, runs


def request(app, method: str, path: str, body: dict | None = None) -> tuple[int, str]:
    """(status, body text) of one request whose raw path is `path`, decoded as uvicorn decodes it."""
    raw = path.encode()
    path, _, query = path.partition("?")
    data = json.dumps(body).encode() if body is not None else b""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": unquote(path), "raw_path": raw, "query_string": query.encode(), "root_path": "",
             "headers": [(b"host", b"t"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(data)).encode())], "client": ("c", 1), "server": ("t", 80)}
    sent, out = [{"type": "http.request", "body": data, "more_body": False}], {"status": 0, "body": b""}

    async def receive():
        return sent.pop(0) if sent else {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")
    asyncio.run(app(scope, receive, send))
    return out["status"], out["body"].decode("utf-8", "replace")


def calls(app, name: str) -> list[tuple[int, str]]:
    return [request(app, "GET", f"/run/{name}"), request(app, "GET", f"/api/run/{name}/metrics"),
            request(app, "POST", f"/api/run/{name}/sample", {"length": 3}),
            request(app, "POST", f"/api/run/{name}/cells", {"text": "the"})]


def test_the_real_runs_are_served_and_the_marker_shows_when_reached(layout):
    _, runs = layout
    app = create_app(runs)
    status, body = request(app, "GET", "/api/runs")
    assert status == 200 and sorted(r["name"] for r in json.loads(body)["runs"]) == ["group/run", "group/twin"]
    assert [s for s, _ in calls(app, "group/run")] == [200] * 4
    twin = calls(app, "group/twin")
    assert [s for s, _ in twin] == [200] * 4 and MARKER in twin[1][1]      # the marker is served when reached


ESCAPES = [
    "../outside/evil", "group/../../outside/evil", "group/run/../../../outside/evil", "group/../twin",
    "./group/run", "group/./run", "group/run/..", "..", "../secret.txt", "secret.txt",
    "%2e%2e/outside/evil", "%2E%2E%2Foutside%2Fevil", "group%2f..%2f..%2foutside%2fevil", "group/%2e%2e/twin",
    "..%5coutside%5cevil", "group%5c..%5c..%5coutside%5cevil", "..\\outside\\evil",
    "%252e%252e/outside/evil", "..%00/outside/evil", "group/run%00",
    "link", "group/up/outside/evil", "group/up/runs/group/run", "group/run/escape/evil",
    "/outside/evil", "//outside/evil", "~/outside/evil",
]


@pytest.mark.parametrize("name", ESCAPES)
def test_no_name_reads_outside_runs_dir(layout, name):
    top, runs = layout
    app = create_app(runs)
    absolute = str(top / "outside" / "evil")
    for status, body in calls(app, name) + calls(app, absolute):
        assert status == 404, (name, status, body[:200])
        assert MARKER not in body
    status, body = request(app, "GET", f"/compare?runs={name}")
    assert MARKER not in body
