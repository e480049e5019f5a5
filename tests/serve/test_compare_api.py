"""Issue 32's endpoints and fixes through Starlette's client: /api/compare (the settings that differ, each
metric's best and last, groups by a setting), the runs table's state, size and selection metric for every
task, result.json, a vector run's pasted sequence; bad input: 4xx in one line."""

import json

import numpy as np
import pytest
from starlette.testclient import TestClient

from unroll.runs import RunFolder
from unroll.serve import compare
from unroll.serve.app import create_app

from tests.serve.test_api import error_of


@pytest.fixture(scope="module")
def client(runs):
    return TestClient(create_app(runs), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def other(kinds):
    return TestClient(create_app(kinds), raise_server_exceptions=False)


def log_of(folder):
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_compare_names_the_settings_that_differ_and_each_metrics_best_and_last(client, runs):
    body = client.get("/api/compare?runs=lm-a,lm-b,group/gru").json()
    assert [r["name"] for r in body["runs"]] == ["lm-a", "lm-b", "group/gru"]
    assert {"network.cell", "network.hidden_size", "network.num_layers", "train.lr", "train.max_steps"} <= set(body["differ"])
    assert "train.batch_size" not in body["differ"] and "task" not in body["differ"]
    a = body["runs"][0]
    assert (a["settings"]["network.hidden_size"], a["settings"]["network.num_layers"], a["settings"]["task"]) == (8, 2, "lm")
    assert not any(k.startswith(("vocab", "data")) for k in a["settings"])            # prepared data is no setting
    valid = [r["valid_loss"] for r in log_of(runs / "lm-a") if "valid_loss" in r]
    assert a["metrics"]["valid_loss"] == {"best": min(valid), "last": valid[-1], "min": min(valid), "max": max(valid),
                                          "mode": "min", "step": [r["step"] for r in log_of(runs / "lm-a") if r.get("valid_loss") == min(valid)][0]}
    assert a["selection"]["name"] == "loss" and a["selection"]["best"] == min(valid)
    assert body["groups"] is None


def test_compare_groups_runs_by_a_setting_and_refuses_an_unknown_one(client):
    body = client.get("/api/compare?runs=lm-a,lm-b,group/gru&group=network.cell").json()
    assert body["groups"] == [{"value": "lstm", "runs": ["lm-a", "lm-b"]}, {"value": "gru", "runs": ["group/gru"]}]
    error = error_of(client.get("/api/compare?runs=lm-a,lm-b&group=train.nothing"), 422)
    assert error.startswith("'group': no setting 'train.nothing' in these runs; they have ")
    assert error_of(client.get("/api/compare?runs=lm-a,nothing"), 404) == "no run folder of that name"
    assert error_of(client.get("/api/compare?runs=../lm-a"), 404) == "no run folder of that name"
    assert len(client.get("/api/compare").json()["runs"]) == 6                              # empty: every run


def test_the_metric_a_task_chooses_its_best_checkpoint_by(client, runs):
    rows = {r["name"]: r for r in client.get("/api/runs").json()["runs"]}
    assert {n: (r["metric"]["name"], r["metric"]["mode"]) for n, r in rows.items()} == {
        "lm-a": ("loss", "min"), "lm-b": ("loss", "min"), "group/gru": ("loss", "min"),
        "cls": ("accuracy", "max"), "tag": ("boundary_f1", "max"), "s2s": ("exact_match", "max")}
    accuracy = [r["valid_accuracy"] for r in log_of(runs / "cls") if "valid_accuracy" in r]
    assert rows["cls"]["metric"]["best"] == max(accuracy) and rows["cls"]["metric"]["last"] == accuracy[-1]
    body = client.get("/api/compare?runs=s2s").json()["runs"][0]["metrics"]
    assert body["valid_exact_match"]["mode"] == "max" and body["valid_loss"]["mode"] == "min"


def test_an_imported_run_is_imported_and_a_longterm_run_has_its_size(other, kinds):
    rows = {r["name"]: r for r in other.get("/api/runs").json()["runs"]}
    assert rows["imported"]["state"] == "imported" and rows["imported"]["step"] == 0
    assert RunFolder(kinds / "imported").state() == "imported"
    assert rows["lt"]["state"] == "finished" and (rows["lt"]["cell"], rows["lt"]["layers"], rows["lt"]["hidden"]) == ("lstm", 1, 4)
    assert rows["fc"]["metric"]["name"] == "loss" and rows["vec"]["metric"]["name"] == "accuracy"


def test_size_is_read_from_the_network_section_of_the_upgraded_config():
    from unroll.serve.runs import size_of
    from unroll.tasks.upgrade import upgrade_v4
    assert size_of({"network": {"cell": "gru", "hidden_size": 16, "num_layers": 3}}) == {"cell": "gru", "layers": 3, "hidden": 16}
    old = upgrade_v4({"task": "longterm", "format": 4, "model": {"cell": "irnn", "hidden": 64}})   # as read_config gives it
    assert size_of(old) == {"cell": "rnn", "layers": 1, "hidden": 64}
    assert size_of({}) == size_of({"model": {"hidden": 64}}) == {"cell": None, "layers": None, "hidden": None}


def test_result_json_is_served(other, kinds):
    result = other.get("/api/run/lt/result").json()["result"]
    assert result == json.loads((kinds / "lt" / "result.json").read_text()) and result["task"] == "adding"
    assert other.get("/api/run/imported/result").json()["result"] == {}
    assert error_of(other.get("/api/run/nothing/result"), 404) == "no run folder of that name"


def test_a_vector_run_reads_a_pasted_sequence(other, kinds):
    from tests.serve.conftest import load
    x = np.array([[10.0, 11.0, 12.5], [12.0, 9.5, 10.0], [8.0, 10.0, 11.0], [9.0, 12.0, 13.0]])
    rows = "f0,f1,f2\n" + "\n".join(",".join(map(str, r)) for r in x) + "\n"
    body = other.post("/api/run/vec/classify", json={"rows": rows}).json()
    task, model = load(kinds / "vec")
    expect = task.proba(model, task.inputs.encode([x[:t + 1] for t in range(4)]))
    assert body["tokens"] == ["1", "2", "3", "4"] and body["labels"] == ["hi", "lo"]
    np.testing.assert_allclose(body["steps"], expect, atol=1e-6)
    tagged = other.post("/api/run/vtag/tag", json={"rows": rows}).json()
    task, model = load(kinds / "vtag")
    probs = task.proba(model, task.inputs.encode([x]))[0]
    assert tagged["tags"] == [task.prepared["tags"][k] for k in probs.argmax(1)] and len(tagged["probs"]) == 4
    assert error_of(other.post("/api/run/vec/classify", json={"rows": "1,2,3\n4,5\n"}), 422) == \
        "'rows' line 2 has 2 numbers; this run reads 3 features a step"
    assert error_of(other.post("/api/run/vec/classify", json={"rows": "1,2,3\n4,x,6\n"}), 422) == \
        "'rows' line 2 is not numbers: '4,x,6'"
    assert error_of(other.post("/api/run/vtag/tag", json={"rows": "1,2,3\n" * 301}), 413) == \
        "'rows' holds 301 steps; the limit is 300"
    assert error_of(other.post("/api/run/vec/classify", json={"rows": "1 2 3\n" * 8000}), 413) == \
        "'rows' holds 48000 characters; the limit is 40000"
    page = other.get("/run/vec").text
    assert 'id="vecbox"' in page and '"input": "vectors"' in page


def test_best_is_lowest_for_losses_highest_for_scores_none_otherwise():
    assert [compare.mode_of(n) for n in ("valid_loss", "valid_mase", "valid_accuracy", "valid_bleu", "valid_coverage_80")] == \
        ["min", "min", "max", "max", None]
    assert compare.differing([{"a": 1, "b": [1, 2]}, {"a": 1, "b": [1, 3]}, {"a": 1}]) == ["b"]


def test_one_unit_across_inputs_and_the_units_that_tell_two_groups_apart(client, runs):
    from tests.serve.conftest import load
    from unroll.analysis import activations
    task, model = load(runs / "lm-a")
    texts = ["First Citizen", "return (x + y)\u20ac"]
    body = client.post("/api/run/lm-a/rows", json={"texts": texts, "unit": 8 + 3}).json()
    acts = [activations.collect(model, task.vocab, t) for t in texts]
    assert [len(r["values"]) for r in body["rows"]] == [13, 15] and body["rows"][1]["values"][-1] is None   # the euro sign
    np.testing.assert_allclose(body["rows"][0]["values"], acts[0].cell[1, :, 3], atol=1e-6)
    np.testing.assert_allclose(body["rows"][1]["values"][:-1], acts[1].cell[1, :, 3], atol=1e-6)
    assert body["scale"] == pytest.approx(max(np.abs(acts[0].cell[1, :, 3]).max(), np.abs(acts[1].cell[1, :, 3]).max()), abs=1e-6)
    a, b = ["First Citizen:", "All:"], ["    return (x + y) * 2", "def f(x, y):"]
    found = client.post("/api/run/lm-a/find_units", json={"a": a, "b": b, "state": "h"}).json()["units"]
    runs_ = [activations.collect(model, task.vocab, t).hidden for t in a + b]
    means = np.stack([h.mean(1).reshape(-1) for h in runs_])
    every = np.concatenate([h.transpose(1, 0, 2).reshape(h.shape[1], -1) for h in runs_])
    score = (means[:2].mean(0) - means[2:].mean(0)) / (every.std(0) + 1e-6)
    assert [u["unit"] for u in found] == list(np.argsort(-np.abs(score), kind="stable")[:16])    # 2 x 8 units
    assert found[0]["score"] == pytest.approx(score[found[0]["unit"]]) and (found[0]["layer"], found[0]["index"]) == divmod(found[0]["unit"], 8)
    assert error_of(client.post("/api/run/lm-a/rows", json={"texts": ["ab"], "unit": 16}), 422) == \
        "'unit' must lie in 0..15 (layer x 8 + unit), got 16"
    assert error_of(client.post("/api/run/lm-a/rows", json={"texts": ["a"] * 21}), 413) == "'texts' holds 21 texts; the limit is 20"
    assert error_of(client.post("/api/run/lm-a/rows", json={"texts": ["a" * 5001]}), 413) == \
        "'texts' item 1 holds 5001 characters; the limit is 5000"
    assert error_of(client.post("/api/run/lm-a/find_units", json={"a": ["ab"], "b": []}), 422) == "'b' holds no text"
    assert error_of(client.post("/api/run/group/gru/rows", json={"texts": ["ab"], "state": "c"}), 422) == \
        "'state' must be one of h, got 'c'"
    assert len(client.post("/api/run/group/gru/rows", json={"texts": ["ab"]}).json()["rows"]) == 1   # h: a GRU has no c


def test_a_forecast_backtest_from_an_origin_beside_the_actual_values_and_the_seasonal_naive_one(other, kinds):
    values = [20 + 5 * np.sin(t / 2) for t in range(48)]
    body = other.post("/api/run/fc/backtest", json={}).json()
    log = [r for r in log_of(kinds / "fc") if "valid_rmse" in r][-1]
    assert (body["first"], body["last"], body["origin"]) == (12, 44, 48 - 4)          # the held-out tail's origin
    assert body["actual"] == pytest.approx(values[44:48], abs=1e-4) and len(body["history"]["values"]) == 12
    mean = np.array([p["mean"] for p in body["forecast"]])
    assert np.sqrt(np.mean((np.array(body["actual"]) - mean) ** 2)) == pytest.approx(log["valid_rmse"], rel=1e-6)
    assert all(p["lo95"] <= p["lo80"] <= p["mean"] <= p["hi80"] <= p["hi95"] for p in body["forecast"])
    season = 12
    assert body["baseline"] == pytest.approx([values[44 + k - season] for k in range(4)], abs=1e-4)
    early = other.post("/api/run/fc/backtest", json={"origin": 20}).json()
    assert early["forecast"][0]["date"] == "2001-09" and early["actual"] == pytest.approx(values[20:24], abs=1e-4)
    assert error_of(other.post("/api/run/fc/backtest", json={"origin": 45}), 422) == \
        "'origin' must lie in 12..44 (a full context before it, a full horizon after), got 45"
    assert error_of(other.post("/api/run/fc/backtest", json={"series": 1}), 422) == "'series' must lie in 0..0, got 1"
    future = other.post("/api/run/fc/forecast", json={}).json()["series"][0]
    assert future["baseline"] == pytest.approx([values[48 + k - season] for k in range(4)], abs=1e-4)


def test_generate_from_a_condition_is_the_tasks_own_predict(other, kinds):
    from tests.serve.conftest import load
    from unroll.tasks.generate import GeneratePredictOptions
    task, model = load(kinds / "gen")
    label = task.prepared["labels"][0]
    assert other.post("/api/run/gen/conditions", json={}).json() == {"cond": "label", "labels": task.prepared["labels"], "cond_size": None}
    body = other.post("/api/run/gen/generate", json={"condition": label, "n": 2, "temperature": 0.7, "seed": 5}).json()
    expect = [next(task.predict(model, [label], GeneratePredictOptions(temperature=0.7, seed=5 + i))) for i in range(2)]
    assert body == {"condition": label, "texts": expect}
    beam = other.post("/api/run/gen/generate", json={"condition": label, "beam": 3}).json()["texts"]
    assert beam == [next(task.predict(model, [label], GeneratePredictOptions(beam=3)))]
    assert error_of(other.post("/api/run/gen/generate", json={"condition": "nothing"}), 422).startswith(
        "line 1: unknown label 'nothing' (the run's labels: ")
    assert error_of(other.post("/api/run/gen/generate", json={"condition": label, "n": 11}), 413) == "'n' must lie in 1..10, got 11"
    assert error_of(other.post("/api/run/gen/generate", json={"condition": label, "temperature": 0}), 422) == \
        "--temperature must be positive, got 0.0"


def test_a_classifier_unit_across_texts_or_pasted_sequences(client, other, runs, kinds):
    from tests.serve.conftest import load
    task, model = load(runs / "cls")
    texts = ["the film was good", "a dull story"]
    body = client.post("/api/run/cls/unit_rows", json={"inputs": texts, "unit": 5}).json()
    for row, text in zip(body["rows"], texts):
        _, cache = model.member(0).forward(task.encode(text)[:, None], None, training=False)   # the default ensemble's member 0
        assert row["tokens"] == task.tokens(text)
        np.testing.assert_allclose(row["values"], cache.hs[:, 0, 5], atol=1e-6)
    assert body["scale"] == max(abs(v) for r in body["rows"] for v in r["values"]) and body["member"] == "member 0 of 3"
    task, model = load(kinds / "vec")
    seqs = ["10,11,12\n12,9,10\n", "8,10,11\n9,12,13\n10,10,10\n"]
    body = other.post("/api/run/vec/unit_rows", json={"inputs": seqs, "unit": 2}).json()
    assert [r["tokens"] for r in body["rows"]] == [["1", "2"], ["1", "2", "3"]] and body["units"] == 12 and body["member"] == "member 0 of 3"     # 2 directions x 6
    x = task.inputs.encode([np.array([[8.0, 10, 11], [9, 12, 13], [10, 10, 10]])])[0]
    _, cache = model.member(0).forward(x[:, None, :], None, training=False)
    np.testing.assert_allclose(body["rows"][1]["values"], cache.hs[:, 0, 2], atol=1e-6)
    assert error_of(other.post("/api/run/vec/unit_rows", json={"inputs": seqs, "unit": 12}), 422) == "'unit' must lie in 0..11, got 12"
    assert error_of(other.post("/api/run/vec/unit_rows", json={"inputs": []}), 422) == "'inputs' must hold 1..20 inputs, got 0"
    assert error_of(other.post("/api/run/vec/unit_rows", json={"inputs": ["1,2\n"]}), 422) == \
        "'rows' line 1 has 2 numbers; this run reads 3 features a step"


def test_a_longterm_run_draws_how_far_back_its_gradient_reaches(other, kinds):
    """The page's call is diagnose's gradient_flow on the loaded checkpoint: the same numbers, T + 1 distances."""
    from tests.serve.conftest import load
    from unroll.analysis.diagnose import gradient_flow
    from unroll.tasks.probes.longterm import PROBE_SEED
    task, model = load(kinds / "lt")
    body = other.post("/api/run/lt/reach", json={"sequences": 8}).json()
    x, y = task.make_batch(8, np.random.default_rng(PROBE_SEED))
    flow = gradient_flow(model, x, y, clip=None, examples=4)
    assert body["distance"] == list(range(task.problem.T + 1)) == flow["distance"]
    np.testing.assert_allclose(body["h"], flow["reach_h"], rtol=1e-12)
    np.testing.assert_allclose(body["c"], flow["reach_c"], rtol=1e-12)            # the fixture's run is an LSTM
    assert body["cell"] == "lstm" and body["T"] == task.problem.T and all(v > 0 for v in body["h"])
    assert error_of(other.post("/api/run/lt/reach", json={"sequences": 65}), 413) == "'sequences' must lie in 1..64, got 65"
    assert error_of(other.post("/api/run/lt/reach", json={"sequences": 0}), 422) == "'sequences' must lie in 1..64, got 0"
