"""The frame both sweep commands share (``training.backends``): a folder claimed by its settings, a
worker that dies turned into one failed run, and the timing and exit status at the end."""

from __future__ import annotations

import json
import os
import time

import pytest

from analysis import run_format
from training.backends import LocalBackend, claim_folder, end_sweep, open_sweep_folder
from training.config import ConfigError


def test_a_folder_is_claimed_once_by_its_settings(tmp_path):
    path = tmp_path / "sweep.json"
    assert claim_folder(path, {"seeds": 2, "budgets": (1, 2)}, {})
    # The same settings again (a tuple read back as a list): the sweep resumes.
    assert claim_folder(path, {"seeds": 2, "budgets": (1, 2)}, {})
    assert not claim_folder(path, {"seeds": 3, "budgets": (1, 2)}, {})
    assert json.loads(path.read_text()) == {"seeds": 2, "budgets": [1, 2]}
    # A field newer than the folder: a settings file without it holds its default.
    assert claim_folder(path, {"seeds": 2, "budgets": (1, 2), "agents": "all"}, {"agents": "all"})
    assert not claim_folder(path, {"seeds": 2, "budgets": (1, 2), "agents": "one"}, {"agents": "all"})


def test_a_sweep_folder_is_made_then_refused_to_other_settings(tmp_path):
    out = tmp_path / "new" / "sweep"
    assert open_sweep_folder(str(out), "sweep.json", {"seeds": 2}, {}, "a sweep") == out
    assert json.loads((out / "sweep.json").read_text()) == {"seeds": 2}
    assert open_sweep_folder(out, "sweep.json", {"seeds": 2}, {}, "a sweep") == out
    with pytest.raises(ConfigError, match=r"holds a sweep with other settings .*sweep.json.*another --out"):
        open_sweep_folder(out, "sweep.json", {"seeds": 3}, {}, "a sweep")
    assert json.loads((out / "sweep.json").read_text()) == {"seeds": 2}  # the folder's own are kept


def _square(x: int) -> int:
    return x * x


def _die(code: int) -> None:
    os._exit(code)


def test_local_backend_runs_tasks_and_turns_a_dead_worker_into_a_failed_run():
    with LocalBackend(workers=1) as backend:
        handles = [backend.submit(_square, 7)]
        results = []
        while handles:
            for handle, result in backend.wait(handles, timeout=60):
                handles.remove(handle)
                results.append(result)
        assert results == [49]
        dead = backend.submit(_die, 3)
        [(_, result)] = backend.wait([dead], timeout=60)
        assert result["status"] == "failed" and result["error"].startswith("worker died")
        # The pool is replaced and the sweep goes on.
        again = backend.submit(_square, 3)
        [(_, result)] = backend.wait([again], timeout=60)
        assert result == 9


def test_end_sweep_writes_the_timing_and_reports_failures(tmp_path, capsys):
    started = time.perf_counter() - 5.0
    assert end_sweep(tmp_path, started, 4.0, tmp_path / "report.md", {}) == 0
    timing = json.loads((tmp_path / run_format.TIMING_FILE).read_text())
    assert timing["runs_s"] == 4.0 and timing["wall_s"] >= 5.0
    assert timing["analyses_s"] == round(timing["wall_s"] - 4.0, 1)
    assert run_format.read_wall_time(tmp_path) == timing["wall_s"]
    assert "report.md" in capsys.readouterr().out
    failed = {"lab_arm/seed_01": {"key": "lab_arm/seed_01", "error": "ValueError: bad"}}
    assert end_sweep(tmp_path, started, 4.0, tmp_path / "report.md", failed) == 1
    assert capsys.readouterr().err.splitlines() == ["FAILED lab_arm/seed_01: ValueError: bad"]
