"""The server reads only run folders under RUNS_DIR, through no symlink, never writes there, and reads a
run that is training right now from its newest complete checkpoint (a subprocess trains while we ask)."""

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from unroll.serve import runs as R
from unroll.serve.app import CHECKPOINT_HEADER, create_app

ROOT = Path(__file__).resolve().parents[2]


def tree(root: Path) -> dict:
    """{relative path: (kind, size, mtime_ns, sha256)} of everything under root (links not followed)."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(folder) / name
            st = os.lstat(p)
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else None
            out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return out


def test_resolve_refuses_everything_but_a_real_run_folder(runs, tmp_path):
    assert R.resolve(runs, "lm-a") == runs / "lm-a" and R.resolve(runs, "group/gru") == runs / "group" / "gru"
    for name in ("", "..", "../lm-a", "lm-a/..", "/etc", str(runs / "lm-a"), "group", "group//gru", "./lm-a",
                 "lm-a\\..", "lm-a\x00", "c:lm-a", "a/b/c/d/e", "lm-a/checkpoints", None, 3):
        with pytest.raises(R.NotFound):
            R.resolve(runs, name)


def test_symlinks_in_or_out_of_the_tree_are_not_followed(runs, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "outside").symlink_to(runs / "lm-a", target_is_directory=True)        # a run outside RUNS_DIR
    (root / "real").mkdir()
    (root / "real" / "config.json").write_text((runs / "lm-a" / "config.json").read_text())
    (root / "real" / "metrics.jsonl").symlink_to(runs / "lm-a" / "metrics.jsonl")
    (root / "cfglink").mkdir()
    (root / "cfglink" / "config.json").symlink_to(runs / "lm-a" / "config.json")
    ckpt = root / "ckptlink"
    ckpt.mkdir()
    for name in ("config.json", "latest"):
        (ckpt / name).write_bytes((runs / "lm-a" / name).read_bytes())
    (ckpt / "checkpoints").symlink_to(runs / "lm-a" / "checkpoints", target_is_directory=True)
    c = TestClient(create_app(root), raise_server_exceptions=False)
    assert [r["name"] for r in c.get("/api/runs").json()["runs"]] == ["ckptlink", "real"]
    for path in ("/api/run/outside/metrics", "/run/outside", "/api/run/cfglink/metrics"):
        assert c.get(path).status_code == 404
    assert c.post("/api/run/outside/cells", json={"text": "ab"}).status_code == 404
    assert c.get("/api/run/real/metrics").json()["records"] == []              # the linked log is not read
    r = c.post("/api/run/ckptlink/cells", json={"text": "First"})
    assert r.status_code == 422 and "holds a symbolic link (checkpoints)" in r.json()["error"]


def test_fifos_are_never_opened(runs, tmp_path):
    import shutil
    shutil.copytree(runs / "lm-b", tmp_path / "r" / "fifo")
    folder = tmp_path / "r" / "fifo"
    (folder / "metrics.jsonl").unlink()
    os.mkfifo(folder / "metrics.jsonl")                            # reading it would wait for a writer forever
    (folder / "latest").unlink()
    os.mkfifo(folder / "latest")
    c = TestClient(create_app(tmp_path / "r"), raise_server_exceptions=False)
    assert c.get("/api/run/fifo/metrics").json()["records"] == []
    assert c.get("/api/runs").json()["runs"][0]["step"] == 0
    r = c.post("/api/run/fifo/cells", json={"text": "First"})
    assert r.status_code == 422 and r.json()["error"] == "run folder fifo: latest is not a regular file"


def test_serving_never_writes_in_the_run_folders(runs):
    before = tree(runs)
    c = TestClient(create_app(runs), raise_server_exceptions=False)
    for path in ("/", "/compare?runs=lm-a", "/run/lm-a", "/api/runs", "/api/run/lm-a/metrics", "/api/compare",
                 "/api/compare?runs=lm-a,lm-b&group=network.cell", "/api/run/lm-a/result"):
        assert c.get(path).status_code == 200
    for path, body in (("lm-a/sample", {"length": 5}), ("lm-a/cells", {"text": "First"}), ("lm-a/gates", {"text": "Fi"}),
                       ("s2s/translate", {"line": "ab"}), ("cls/classify", {"text": "good"}), ("tag/tag", {"text": "ab"}),
                       ("lm-a/rows", {"texts": ["Fi", "rst"]}), ("lm-a/find_units", {"a": ["Fi"], "b": ["st"]})):
        assert c.post("/api/run/" + path, json=body).status_code == 200
    assert tree(runs) == before


def test_serving_the_other_kinds_never_writes_either(kinds):
    before = tree(kinds)
    c = TestClient(create_app(kinds), raise_server_exceptions=False)
    for path in ("/", "/api/runs", "/api/compare", "/run/lt", "/api/run/lt/result", "/run/fc", "/run/vec", "/run/gen"):
        assert c.get(path).status_code == 200
    for path, body in (("fc/forecast", {}), ("fc/backtest", {"origin": 20}), ("vec/classify", {"rows": "1,2,3\n"}),
                       ("vtag/tag", {"rows": "1,2,3\n"}), ("gen/generate", {"condition": "pos"})):
        assert c.post("/api/run/" + path, json=body).status_code == 200, path
    assert tree(kinds) == before


def test_a_run_read_while_it_trains(tmp_path):
    from tests.serve.conftest import TEXT
    (tmp_path / "t.txt").write_text(TEXT)
    root = tmp_path / "runs"
    root.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "UNROLL_FAULT_PAUSE": "0.15"}   # each checkpoint stage pauses
    proc = subprocess.Popen([sys.executable, "-m", "unroll", "train", "--data", str(tmp_path / "t.txt"), "--hidden",
                             "8", "--layers", "1", "--seq-len", "16", "--batch", "4", "--max-steps", "40",
                             "--eval-every", "5", "--quiet", "--out", str(root / "live")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    c = TestClient(create_app(root), raise_server_exceptions=False)
    statuses, seen, stages, states = [], [], set(), set()
    deadline = time.time() + 240
    while proc.poll() is None and time.time() < deadline:
        rows = c.get("/api/runs").json()["runs"]
        states |= {r["state"] for r in rows}
        stage = (root / "live" / "fault-point").read_text() if (root / "live" / "fault-point").exists() else ""
        r = c.post("/api/run/live/cells", json={"text": "First Citizen"})
        statuses.append(r.status_code)
        if r.status_code == 200:
            seen.append(r.headers[CHECKPOINT_HEADER])
            stages.add(stage)
        elif not seen:                                                   # before the first checkpoint
            assert r.status_code in (404, 409), r.text                   # 404: no config.json yet
        else:
            raise AssertionError(f"{r.status_code} after a first checkpoint: {r.text}")
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert "training" in states and 200 in statuses
    assert seen == sorted(seen) and len(set(seen)) >= 2                    # newer checkpoints as they come
    assert stages & {"wrote model.safetensors", "wrote train.safetensors", "wrote state.json"}   # mid-write
    final = json.loads(c.get("/api/runs").content)["runs"][0]
    assert final["state"] == "finished" and final["step"] == 40
    last = c.post("/api/run/live/cells", json={"text": "First"}).headers[CHECKPOINT_HEADER]
    assert last == (root / "live" / "latest").read_text().strip() == "step-00000040"


def test_serving_studies_never_writes_in_them(studies):
    """study.db is opened read-only by SQLite itself: no journal, no table, no version row is written."""
    before = tree(studies)
    c = TestClient(create_app(studies), raise_server_exceptions=False)
    for path in ("/", "/api/studies", "/api/study/tuned", "/study/tuned", "/api/study/group/built",
                 "/study/group/built", "/api/runs", "/api/compare", "/run/tuned/trials/0001",
                 "/api/run/tuned/trials/0001/metrics", "/api/run/group/built/trials/0000/result"):
        assert c.get(path).status_code == 200, path
    assert c.post("/api/run/tuned/trials/0002/cells", json={"text": "First"}).status_code == 200
    assert tree(studies) == before
