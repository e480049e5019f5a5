"""Tasks own their pages (issue 28): serve routes to the page a task names (``Task.page``), a vector run's
text calls refuse in one line (not a 500 KeyError 'vocab'), a forecast run's page gets its forecast data,
and the task's public ``tokens`` / ``encode`` are what the pages call."""

import csv
import io

import numpy as np
import pytest
from starlette.testclient import TestClient

from unroll.cli import main
from unroll.serve.app import create_app
from unroll.tasks import TASKS, get_task, probes

from tests.data.vector_helpers import make_sequences, write_csv


def train(*args) -> None:
    assert main(["train", *map(str, args), "--quiet"]) == 0


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    data, root = tmp_path_factory.mktemp("data"), tmp_path_factory.mktemp("runs")
    xs, labels, _ = make_sequences(40, seed=1)
    write_csv(data / "c.csv", xs, labels)
    train("--task", "classify", "--data", data / "c.csv", "--hidden", "6", "--batch", "8", "--max-steps", "2",
          "--eval-every", "2", "--dtype", "float32", "--out", root / "vec")
    rows = ["month,sales"] + [f"{np.datetime64('2000-01') + t},{20 + 5 * np.sin(t / 2):.4f}" for t in range(48)]
    (data / "sales.csv").write_text("\n".join(rows) + "\n")
    train("--task", "forecast", "--data", data / "sales.csv", "--context", "12", "--horizon", "4",
          "--hidden", "6", "--batch", "4", "--max-steps", "2", "--eval-every", "2", "--out", root / "fc")
    return root


def error_of(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_a_vector_run_refuses_text_in_one_line(root):
    c = TestClient(create_app(root), raise_server_exceptions=False)
    assert "/page/classify.js" in c.get("/run/vec").text
    assert error_of(c.post("/api/run/vec/classify", json={"text": "a film"}), 422) == (
        "this classify run reads vectors (3 features a step), not text: send 'rows' (one step a line), or use "
        "`unroll predict RUN FILE.csv`")


def test_the_server_loads_a_run_in_its_own_precision_and_the_checkpoint_asked_for(root):
    for which in ("last", "best"):
        app = create_app(root, checkpoint=which)
        task, model, info = app.state.server.model(root / "vec")
        assert info["checkpoint"] == which and info["step"] == 2
        assert {v.dtype for v in model.params.values()} == {np.dtype(np.float32)}      # the run's --dtype


def test_a_forecast_run_gets_its_forecast_page_and_data(root, capsys):
    c = TestClient(create_app(root), raise_server_exceptions=False)
    page = c.get("/run/fc").text
    assert '<button id="forecast">' in page and "/page/forecast.js" in page
    assert c.get("/page/forecast.js").status_code == 200 and c.get("/page/nothing.js").status_code == 404
    r = c.post("/api/run/fc/forecast", json={"history": 10})
    assert r.status_code == 200 and r.headers["X-Unroll-Checkpoint"] == "step-00000002"
    (series,) = r.json()["series"]
    assert len(series["history"]["values"]) == 10 and series["history"]["dates"][-1] == "2003-12"
    assert [row["date"] for row in series["forecast"]] == ["2004-01", "2004-02", "2004-03", "2004-04"]
    capsys.readouterr()
    assert main(["predict", str(root / "fc")]) == 0                              # the same forecast as predict
    predicted = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [float(p["mean"]) for p in predicted] == pytest.approx([row["mean"] for row in series["forecast"]],
                                                                  rel=1e-5)
    assert all(row["lo95"] <= row["lo80"] <= row["mean"] <= row["hi80"] <= row["hi95"] for row in series["forecast"])
    assert error_of(c.post("/api/run/fc/forecast", json={"history": 0}), 422) == "'history' must lie in 1..2000, got 0"


def test_every_page_is_declared_by_its_task():
    pages = {name: get_task(name).page for name in TASKS}
    assert pages == {"lm": "unroll.tasks.probes.lm", "classify": "unroll.tasks.probes.classify",
                     "tag": "unroll.tasks.probes.tag", "generate": "unroll.tasks.probes.generate", "seq2seq": "unroll.tasks.probes.seq2seq",
                     "longterm": "unroll.tasks.probes.longterm", "forecast": "unroll.tasks.probes.forecast"}
    for name, module in pages.items():
        if module:
            page = probes.page_of(get_task(name))
            assert page.script.is_file() and page.section and (page.calls or page.streams)


def test_tokens_and_encode_are_the_tasks_public_words():
    from unroll.models.tagger import NETWORK
    from unroll.tasks.tag import TagConfig
    task = get_task("tag")({"tag": TagConfig(level="char"), "network": NETWORK()},
                           {"vocab": {"tokens": ["<unk>", "a", "b"]}})
    assert task.tokens("ab a") == ["a", "b", "a"]                  # characters, whitespace dropped
    assert task.encode("ab c").tolist() == [1, 2, 0]                # outside the vocabulary: <unk>
