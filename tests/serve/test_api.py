"""Every endpoint of the app through Starlette's in-process client, with the numbers it must return and
the refusals (4xx, one line, never a traceback)."""

import json

import numpy as np
import pytest
from starlette.testclient import TestClient

from unroll.analysis import activations, features, gates, page
from unroll.serve.app import create_app
from unroll.tasks.probes import Limits
from tests.serve.conftest import load


@pytest.fixture(scope="module")
def client(runs):
    return TestClient(create_app(runs), raise_server_exceptions=False)


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and "\n" not in body["error"] and "Traceback" not in body["error"]
    return body["error"]


def test_runs_lists_every_run_folder_with_its_figures(client, runs):
    rows = {r["name"]: r for r in client.get("/api/runs").json()["runs"]}
    assert set(rows) == {"lm-a", "lm-b", "group/gru", "s2s", "cls", "tag"}
    log = [json.loads(line) for line in (runs / "lm-a" / "metrics.jsonl").read_text().splitlines()]
    a = rows["lm-a"]
    assert (a["task"], a["cell"], a["layers"], a["hidden"], a["step"], a["max_steps"]) == ("lm", "lstm", 2, 8, 6, 6)
    assert a["best_valid"] == min(r["valid_loss"] for r in log if "valid_loss" in r)
    assert a["tokens_per_s"] == pytest.approx(np.mean([r["tokens_per_s"] for r in log[-5:]]))
    assert rows["group/gru"]["cell"] == "gru" and rows["s2s"]["task"] == "seq2seq"
    assert {r["state"] for r in rows.values()} == {"finished"}


def test_metrics_are_the_log_records(client, runs):
    body = client.get("/api/run/lm-b/metrics").json()
    log = [json.loads(line) for line in (runs / "lm-b" / "metrics.jsonl").read_text().splitlines()]
    assert body["task"] == "lm" and body["records"] == log
    assert client.get("/api/run/group/gru/metrics").json()["name"] == "group/gru"


def test_pages_are_served_and_load_only_local_scripts(client):
    for path in ("/", "/compare?runs=lm-a,lm-b", "/run/lm-a", "/run/s2s", "/run/cls", "/run/tag", "/run/group/gru"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "//" not in "".join(r.text.split('src="')[1:]).split('"')[0]          # no other host
        for script in [s.split('"')[0] for s in r.text.split('<script src="')[1:]]:
            assert script.startswith(("/static/", "/page/")) and client.get(script).status_code == 200
    assert '"selected": ["lm-a", "lm-b"]' in client.get("/compare?runs=lm-a,lm-b").text
    assert "/page/seq2seq.js" in client.get("/run/s2s").text and "/page/lm.js" not in client.get("/run/s2s").text


def test_sampling_streams_exactly_what_the_model_generates(client, runs):
    task, model = load(runs / "lm-a")
    vocab = task.vocab
    expect = "First" + vocab.decode(model.sample(vocab.encode("First"), 50, 0.7, 5, seed=11))
    with client.stream("POST", "/api/run/lm-a/sample",
                       json={"prime": "First", "length": 50, "temperature": 0.7, "top_k": 5, "seed": 11}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        chunks = list(r.iter_text())
    assert "".join(chunks) == expect and len(chunks) > 1
    greedy = client.post("/api/run/lm-a/sample", json={"prime": "Be", "length": 20, "greedy": True}).text
    assert greedy == "Be" + vocab.decode(model.sample(vocab.encode("Be"), 20, greedy=True))


def test_cells_are_the_visualize_page_data(client, runs):
    text = "First Citizen:\n    return (x + y)\u20ac\n"
    body = client.post("/api/run/lm-a/cells", json={"text": text}).json()
    task, model = load(runs / "lm-a")
    acts = activations.collect(model, task.vocab, text)
    found = features.find(acts)
    expect = page.page_data(acts, task.vocab, found, ("c", 0, 0), "cells", features.best_units(found, top=3))
    for key in ("text", "known", "step", "vocab", "top_ids", "top_p", "states", "r", "features", "find"):
        assert body[key] == json.loads(json.dumps(expect[key])), key
    assert body["known"].count("0") == 1 and body["constant"] == found["constant"]
    r = np.abs(found["r"]).max(0)
    best = max((u for u, label in enumerate(found["units"]) if label[0] == "c"), key=lambda u: r[u])
    assert (body["unit"]["kind"], body["unit"]["layer"], body["unit"]["unit"]) == found["units"][best]


def test_gates_are_the_saturation(client, runs):
    text = "Before we proceed any further, hear me speak.\n"
    task, model = load(runs / "lm-a")
    expect = gates.saturation(activations.collect(model, task.vocab, text))
    assert client.post("/api/run/lm-a/gates", json={"text": text}).json() == json.loads(json.dumps(expect))


def test_translate_greedy_and_beam_with_attention(client, runs):
    task, model = load(runs / "s2s")
    _, tgt = task.vocabs
    for beam in (1, 3):
        body = client.post("/api/run/s2s/translate", json={"line": "abcd", "beam": beam}).json()
        hyp = task.translate(model, [task.encode_source("abcd", "x")], beam)[0]
        assert body["output"] == tgt.decode(hyp.tokens) and body["source_tokens"] == list("abcd")
        att = np.array(body["attention"])
        assert att.shape == (len(hyp.tokens) + hyp.finished, 4)
        np.testing.assert_allclose(att, hyp.attention, atol=1e-4)
        np.testing.assert_allclose(att.sum(axis=1), 1.0, atol=1e-3)
        assert body["log_prob"] == pytest.approx(hyp.log_prob)


def test_classify_probabilities_along_the_input(client, runs):
    task, model = load(runs / "cls")
    body = client.post("/api/run/cls/classify", json={"text": "the film was great"}).json()
    tokens = task.tokens("the film was great")
    assert body["tokens"] == tokens and body["labels"] == task.prepared["labels"]
    ids = task.encode("the film was great")                         # the run's ids, <unk> outside its vocabulary
    for t in range(len(tokens)):                                    # step t: the classifier on the prefix alone
        np.testing.assert_allclose(body["steps"][t], model.predict_proba(ids[:t + 1, None])[0], atol=2e-6)
    assert body["probs"] == body["steps"][-1]
    assert next(task.predict(model, ["the film was great"], None)).split("\t")[0] == \
        body["labels"][int(np.argmax(body["probs"]))]


def test_tag_one_tag_per_token(client, runs):
    task, model = load(runs / "tag")
    body = client.post("/api/run/tag/tag", json={"text": "the film was good"}).json()
    assert body["tokens"] == list("thefilmwasgood")
    assert " ".join(body["tags"]) == next(task.predict(model, ["the film was good"], None))


# ----------------------------------------------------------------------------------------------------
# Refusals.

@pytest.mark.parametrize("path", [
    "/api/run/nothing/metrics", "/api/run/%2E%2E/metrics", "/api/run/%2E%2E%2Flm-a/metrics",
    "/api/run/%2Fetc/metrics", "/api/run/group/metrics", "/api/run/lm-a%00/metrics", "/run/%2E%2E",
    "/run/nothing", "/api/run/.hidden/metrics", "/api/run/lm-a/checkpoints/metrics",
])
def test_unknown_or_escaping_names_are_404(client, path):
    assert error_of(client.get(path), 404) == "no run folder of that name"


def test_post_refusals(client):
    post = lambda path, **kw: client.post(path, **kw)   # noqa: E731
    assert "not JSON" in error_of(post("/api/run/lm-a/cells", content=b"{not json"), 400)
    assert "JSON object" in error_of(post("/api/run/lm-a/cells", json=[1, 2]), 400)
    assert "over 65536 bytes" in error_of(post("/api/run/lm-a/cells", content=b"x" * 70000), 413)
    assert "limit is 5000" in error_of(post("/api/run/lm-a/cells", json={"text": "a" * 5001}), 413)
    assert "'text' is required" in error_of(post("/api/run/lm-a/cells", json={}), 422)
    assert "'text' must be str" in error_of(post("/api/run/lm-a/cells", json={"text": 3}), 422)
    assert "no character in the model's vocabulary" in error_of(post("/api/run/lm-a/cells", json={"text": "\u20ac"}), 422)
    assert "'length' must lie in 0..2000" in error_of(post("/api/run/lm-a/sample", json={"length": 10 ** 6}), 413)
    assert "'temperature' must lie in" in error_of(post("/api/run/lm-a/sample", json={"temperature": 0}), 422)
    assert "'top_k' must be at least 1" in error_of(post("/api/run/lm-a/sample", json={"top_k": 0}), 422)
    assert "'length' must be int" in error_of(post("/api/run/lm-a/sample", json={"length": True}), 422)
    assert "not in the vocabulary" in error_of(post("/api/run/lm-a/sample", json={"prime": "\u20ac"}), 422)
    assert "'beam' must lie in 1..16" in error_of(post("/api/run/s2s/translate", json={"line": "ab", "beam": 99}), 413)
    assert "--max-source-len N accepts longer ones" in error_of(post("/api/run/s2s/translate", json={"line": "abcdefgh" * 30}), 422)
    assert "not in the vocabulary" in error_of(post("/api/run/s2s/translate", json={"line": "a#"}), 422)
    assert "limit is 300" in error_of(post("/api/run/cls/classify", json={"text": "a " * 301}), 413)
    assert "holds no token" in error_of(post("/api/run/tag/tag", json={"text": "   "}), 422)
    assert error_of(post("/api/run/s2s/sample", json={}), 404) == "a seq2seq run has no 'sample'"
    assert "has no 'cells'" in error_of(post("/api/run/s2s/cells", json={"text": "a"}), 404)
    assert "has no 'translate'" in error_of(post("/api/run/group/gru/translate", json={"line": "a"}), 404)
    assert error_of(client.get("/api/run/lm-a/sample"), 405)


def test_a_run_without_checkpoint_is_409_and_a_damaged_config_422(runs, tmp_path):
    root = tmp_path / "r"
    (root / "fresh").mkdir(parents=True)
    (root / "fresh" / "config.json").write_text((runs / "lm-a" / "config.json").read_text())
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text("{\"task\": \"lm\"")
    c = TestClient(create_app(root), raise_server_exceptions=False)
    assert "has no checkpoint yet" in error_of(c.post("/api/run/fresh/cells", json={"text": "ab"}), 409)
    assert "broken/config.json is not valid JSON" in error_of(c.post("/api/run/broken/cells", json={"text": "ab"}), 422)
    rows = {r["name"]: r for r in c.get("/api/runs").json()["runs"]}
    assert rows["fresh"]["step"] == 0 and rows["fresh"]["state"] == "interrupted" and rows["broken"]["task"] is None     # damaged: no task is known


def test_small_limits_and_a_busy_server(runs):
    c = TestClient(create_app(runs, limits=Limits(text_chars=10, sample_tokens=5), slots=1, wait_s=0.05),
                   raise_server_exceptions=False)
    assert "limit is 10" in error_of(c.post("/api/run/lm-a/cells", json={"text": "First Citizen"}), 413)
    assert "0..5" in error_of(c.post("/api/run/lm-a/sample", json={"length": 6}), 413)
    with c.app.state.server.slots:                                            # the only slot is taken
        assert "slots stayed busy" in error_of(c.post("/api/run/lm-a/cells", json={"text": "First"}), 503)
    assert c.post("/api/run/lm-a/cells", json={"text": "First"}).status_code == 200


def test_metrics_log_is_read_incrementally_and_tolerantly(tmp_path):
    from unroll.serve.runs import MetricsCache
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "train_loss": 2.5}\n{"step": 2, "train_')           # a line being written
    cache = MetricsCache()                                           # RunFolder(tmp_path).metrics(since=cursor)
    assert cache.read(tmp_path) == [{"step": 1, "train_loss": 2.5}]
    with open(path, "a") as fh:
        fh.write('loss": NaN}\nnot json\n[1]\n{"step": 3, "valid_loss": 2.0}\n')
    assert [r["step"] for r in cache.read(tmp_path)] == [1, 2, 3]                                # damaged lines skipped
    path.write_text('{"step": 1, "train_loss": 9.0}\n')                                # truncated (rollback)
    assert cache.read(tmp_path) == [{"step": 1, "train_loss": 9.0}]


def test_nan_figures_are_sent_as_null(runs, tmp_path):
    import shutil
    root = tmp_path / "r"
    shutil.copytree(runs / "lm-b", root / "nan")
    with open(root / "nan" / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 5, "train_loss": NaN, "grad_norm": Infinity, "valid_loss": 1.5}\n')
    c = TestClient(create_app(root), raise_server_exceptions=False)
    last = c.get("/api/run/nan/metrics").json()["records"][-1]
    assert last == {"step": 5, "train_loss": None, "grad_norm": None, "valid_loss": 1.5}
    assert c.get("/api/runs").json()["runs"][0]["best_valid"] == 1.5


def test_other_paths_and_an_internal_error_are_one_line(runs, monkeypatch):
    from unroll.tasks.probes import tag as tag_page
    c = TestClient(create_app(runs), raise_server_exceptions=False)
    assert error_of(c.get("/nothing/here"), 404) == "Not Found"
    assert c.get("/static/%2E%2E/app.py").status_code == 404 and c.get("/static/app.css").status_code == 200

    def broken(task, model, body, limits):
        raise RuntimeError("secret detail\nTraceback (most recent call last)")
    monkeypatch.setitem(tag_page.PAGE.calls, "tag", broken)
    assert error_of(c.post("/api/run/tag/tag", json={"text": "ab"}), 500) == \
        "internal error (RuntimeError); the server log has the details"


def test_a_run_stopped_by_its_task_criterion_is_finished(runs, tmp_path):
    import shutil
    root = tmp_path / "r"
    for name, exact in (("done", 1.0), ("cut", 0.5)):
        shutil.copytree(runs / "s2s", root / name)
        log = root / name / "metrics.jsonl"
        log.write_text(log.read_text().replace('"step": 4,', '"step": 3,') .replace(
            '"valid_exact_match": 0.0', f'"valid_exact_match": {exact}'))
    rows = {r["name"]: r for r in TestClient(create_app(root)).get("/api/runs").json()["runs"]}
    assert (rows["done"]["step"], rows["done"]["state"]) == (3, "finished")        # seq2seq stops at exact match 1
    assert rows["cut"]["state"] == "interrupted"
