"""Tuning studies in `unroll serve` (issue 32, item 5): the study list, a study's data with the numbers its
study.db and its trials' run folders hold, refusals of bad names and unreadable studies (4xx, one line),
and the data following a study that grows."""

import json
import os
import shutil

import pytest
from starlette.testclient import TestClient

from tests.serve.conftest import BUILT
from tests.serve.test_api import error_of
from tests.serve.test_path_escape import request
from unroll.serve import runs as R, studies as S
from unroll.serve.app import create_app

optuna = pytest.importorskip("optuna")


@pytest.fixture(scope="module")
def client(studies):
    return TestClient(create_app(studies), raise_server_exceptions=False)


def records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_studies_are_found_and_their_trials_are_runs(studies):
    assert S.discover(studies) == ["group/built", "tuned"]
    assert R.discover(studies) == ["group/built/trials/0000", "group/built/trials/0005", "tuned/trials/0000",
                                   "tuned/trials/0001", "tuned/trials/0002"]


def test_the_study_list(client):
    rows = {r["name"]: r for r in client.get("/api/studies").json()["studies"]}
    assert rows["group/built"] == {"name": "group/built", "running": False, "task": "lm", "metric": "valid_loss",
                                   "mode": "min", "params": ["cell", "dropout", "hidden"],
                                   "counts": {"complete": 3, "pruned": 1, "fail": 1, "running": 1}, "trials": 6,
                                   "best": 2.25,
                                   "best_trial": 2}
    assert rows["tuned"]["counts"] == {"complete": 3} and rows["tuned"]["params"] == ["cell", "hidden", "lr"]


def test_a_built_study_with_every_state(client, studies):
    d = client.get("/api/study/group/built").json()
    assert (d["name"], d["task"], d["metric"], d["mode"], d["trial_time"]) == ("group/built", "lm", "valid_loss", "min", 5.0)
    assert d["params"] == [
        {"name": "cell", "kind": "choice", "log": False, "low": None, "high": None, "choices": ["lstm", "gru"]},
        {"name": "dropout", "kind": "float", "log": False, "low": 0.0, "high": 0.5, "choices": None},
        {"name": "hidden", "kind": "int", "log": True, "low": 4, "high": 64, "choices": None}]
    assert [(t["number"], t["state"], t["value"], t["params"]) for t in d["trials"]] == \
        [(k, state.lower(), value, params) for k, (params, value, state, _) in enumerate(BUILT)]
    assert [(t["step"], t["elapsed"], t["error"]) for t in d["trials"][:5]] == \
        [(a.get("step"), a.get("elapsed"), a.get("error")) for _, _, _, a in BUILT[:5]]
    last = records(studies / "group/built/trials/0005")[-1]          # a running trial: its run folder's now
    assert (d["trials"][5]["step"], d["trials"][5]["elapsed"]) == (4, last["elapsed"]) and last["step"] == 4
    assert [t["run"] for t in d["trials"]] == ["group/built/trials/0000", None, None, None, None,
                                               "group/built/trials/0005"]             # the folders that exist
    best = d["best"]
    assert (best["number"], best["value"], best["params"]) == (2, 2.25, {"hidden": 16, "dropout": 0.2, "cell": "gru"})
    assert best["command"] == ("unroll train --task lm --layers 1 --hidden 16 --dropout 0.2 --cell gru --max-time 5 "
                               "--out runs/tune-trial-2")


def test_a_tuned_study_holds_its_trials_numbers(client, studies):
    d = client.get("/api/study/tuned").json()
    assert [t["state"] for t in d["trials"]] == ["complete"] * 3
    for t in d["trials"]:
        assert t["run"] == f"tuned/trials/{t['number']:04d}"
        run = studies / t["run"]
        config = json.loads((run / "config.json").read_text())
        assert t["params"] == {"hidden": config["network"]["hidden_size"], "lr": config["train"]["lr"],
                               "cell": config["network"]["cell"]}
        assert t["value"] == min(r["valid_loss"] for r in records(run) if "valid_loss" in r)
        assert t["step"] == 4 and client.get(f"/api/run/{t['run']}/metrics").json()["records"][-1]["step"] == 4
    best = min(d["trials"], key=lambda t: t["value"])
    assert d["best"]["number"] == best["number"] and d["best"]["value"] == best["value"]
    assert d["best"]["command"].startswith("unroll train --task lm --data ") and f"--hidden {best['params']['hidden']}" in d["best"]["command"]
    assert {p["name"]: (p["low"], p["high"], p["log"]) for p in d["params"] if p["kind"] != "choice"} == \
        {"hidden": (4, 12, True), "lr": (0.001, 0.03, True)}


@pytest.mark.parametrize("name", ["nope", "tuned/trials/0000", "tuned/trials", "group", "tuned/..", "..", "",
                                  "%2e%2e/tuned", "tuned%2f..", ".tuned", "tuned/../group/built", "group//built",
                                  "group/built/", "/tuned", "..%5ctuned", "tuned%00", "a/b/c/d/e"])
def test_names_that_are_no_study_are_404(studies, name):
    app = create_app(studies)                              # the path exactly as written (test_path_escape.py)
    for path in ("/api/study/", "/study/"):
        status, body = request(app, "GET", path + name)
        assert (status, json.loads(body)) == (404, {"error": "no study folder of that name"}), (path + name, body)


def test_links_and_unreadable_studies(studies, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(studies / "group" / "built", root / "ok")
    (root / "linked").symlink_to(studies / "tuned", target_is_directory=True)          # a study elsewhere
    for name, damage in (("dblink", "db"), ("infolink", "info")):
        shutil.copytree(studies / "group" / "built", root / name)
        target = root / name / ("study.db" if damage == "db" else "tune.json")
        target.unlink()
        target.symlink_to(studies / "tuned" / target.name)
    shutil.copytree(studies / "group" / "built", root / "shared")
    info = json.loads((root / "shared" / "tune.json").read_text())
    (root / "shared" / "tune.json").write_text(json.dumps({**info, "storage": "postgresql://u@h/db"}))
    shutil.copytree(studies / "group" / "built", root / "nodb")
    (root / "nodb" / "study.db").unlink()
    shutil.copytree(studies / "group" / "built", root / "junk")
    (root / "junk" / "study.db").write_bytes(b"not a database at all " * 100)
    c = TestClient(create_app(root), raise_server_exceptions=False)
    for name in ("linked", "dblink", "infolink"):
        assert error_of(c.get(f"/api/study/{name}"), 404) == "no study folder of that name"
    assert error_of(c.get("/api/study/shared"), 422) == ("study shared keeps its trials in its --storage; only a "
                                                         "study's own study.db is read here (unroll tune STUDY "
                                                         "--report reads the storage)")
    assert error_of(c.get("/api/study/nodb"), 422) == "study nodb has no study.db yet"
    assert error_of(c.get("/study/junk"), 422) == "study junk: study.db cannot be read (DatabaseError: file is not a database)"
    rows = {r["name"]: r for r in c.get("/api/studies").json()["studies"]}
    assert sorted(rows) == ["junk", "nodb", "ok", "shared"]
    assert rows["ok"]["best"] == 2.25 and rows["nodb"] == {"name": "nodb", "running": False,
                                                          "error": "study nodb has no study.db yet"}


def test_the_data_follows_a_growing_study(studies, tmp_path):
    from unroll.tune import study as T
    shutil.copytree(studies / "group" / "built", tmp_path / "r" / "s")
    c = TestClient(create_app(tmp_path / "r"), raise_server_exceptions=False)
    assert len(c.get("/api/study/s").json()["trials"]) == 6
    folder = tmp_path / "r" / "s"
    study = T.open_study(folder, T.read_info(folder))
    first = study.get_trials()[0]
    study.add_trial(optuna.trial.create_trial(params={**first.params, "hidden": 12}, distributions=first.distributions,
                                              value=2.0, user_attrs={"argv": ["--task", "lm", "--hidden", "12"]}))
    os.utime(folder / "study.db", ns=(1, 1))         # a new mtime even on a coarse clock: the cache's key
    d = c.get("/api/study/s").json()
    assert len(d["trials"]) == 7 and (d["best"]["number"], d["best"]["value"]) == (6, 2.0)
    assert d["best"]["command"] == "unroll train --task lm --hidden 12 --out runs/tune-trial-6"
