"""`unroll serve` on the command line: defaults to 127.0.0.1, warns for another address, one-line errors."""

import pytest
import uvicorn

from unroll.cli import main


@pytest.fixture()
def served(monkeypatch):
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    return calls


def test_serve_binds_localhost_by_default(runs, served, capsys):
    assert main(["serve", str(runs)]) == 0
    app, kw = served[0]
    assert kw["host"] == "127.0.0.1" and kw["port"] == 8000 and app.state.server.root == runs
    assert "warning" not in capsys.readouterr().err


def test_another_host_warns(runs, served, capsys):
    assert main(["serve", str(runs), "--host", "0.0.0.0", "--port", "8123"]) == 0
    err = capsys.readouterr().err
    assert served[0][1]["host"] == "0.0.0.0" and served[0][1]["port"] == 8123
    assert "unroll: warning: --host 0.0.0.0: anyone who can reach this address can use the app" in err


@pytest.mark.parametrize("args, message", [
    (["nowhere"], "RUNS_DIR nowhere is not a folder"),
    (["RUNS", "--port", "0"], "--port must lie in 1..65535, got 0"),
    (["RUNS", "--slots", "0"], "--slots must be at least 1, got 0"),
])
def test_bad_options_are_one_line(runs, served, capsys, args, message):
    args = [str(runs) if a == "RUNS" else a for a in args]
    assert main(["serve", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"unroll: error: {message}"] and not served
