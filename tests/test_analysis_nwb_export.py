"""The NWB export (analysis/nwb_export.py): what it writes reads back exactly with pynwb, on one timeline;
bad input is refused with a message naming the problem; pynwb stays optional."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest
from synthetic_runs import Plan, make_run

from analysis.calcium import CalciumConfig, image_session, units_in_view
from analysis.nwb_export import GAP_S, export_run, load_sessions, main, stamped, trial_starts

PLAN = Plan(sessions=(1, 2, 3), trials=6, units=10, thalamic=4, s1=4, dt=0.02, probe=False)
IMAGING = CalciumConfig(field_of_view=0.6, noise_sd=0.02, seed=4)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("run"), PLAN)


def read(path: Path):
    """The NWB file's contents as plain arrays."""
    pynwb = pytest.importorskip("pynwb")
    with pynwb.NWBHDF5IO(str(path), mode="r") as io:
        nwb = io.read()
        trials = {name: np.asarray(nwb.trials[name].data[:]) for name in nwb.trials.colnames}
        trials["start_time"] = np.asarray(nwb.trials["start_time"].data[:])
        trials["stop_time"] = np.asarray(nwb.trials["stop_time"].data[:])
        series = {name: (np.asarray(ts.data[:]), np.asarray(ts.timestamps[:]))
                  for name, ts in nwb.acquisition.items()}
        series.update({name: (np.asarray(ts.data[:]), np.asarray(ts.timestamps[:]))
                       for name, ts in nwb.processing["behavior"].data_interfaces.items()})
        ophys = None
        if "ophys" in nwb.processing:
            dff = nwb.processing["ophys"]["DfOverF"]["RoiResponseSeries"]
            plane = nwb.processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
            ophys = {"data": np.asarray(dff.data[:]), "timestamps": np.asarray(dff.timestamps[:]),
                     "units": np.asarray(plane["unit"].data[:]), "rois": np.asarray(dff.rois.data[:]),
                     "rate": plane.imaging_plane.imaging_rate}
    return trials, series, ophys


@pytest.mark.parametrize("sessions", [None, [3, 1]])
def test_rates_and_trial_events_round_trip_exactly(root, tmp_path, sessions):
    out = export_run(root, tmp_path / "run.nwb", sessions=sessions)
    trials, series, ophys = read(out)
    recorded = load_sessions(root, sessions)
    assert [s.number for s in recorded] == ([1, 2, 3] if sessions is None else [1, 3])
    starts = trial_starts(recorded)
    assert ophys is None
    # the timeline: trial i starts at i (L + gap), L = 2.5 s trials
    np.testing.assert_array_equal(trials["start_time"], np.arange(6 * len(recorded)) * (2.5 + GAP_S))
    np.testing.assert_array_equal(trials["start_time"], np.concatenate(starts))
    np.testing.assert_array_equal(trials["session"], np.repeat([s.number for s in recorded], 6))
    np.testing.assert_array_equal(trials["episode"], np.concatenate([s.episode for s in recorded]))
    np.testing.assert_array_equal(trials["success"], np.concatenate([s.success for s in recorded]))
    pairs = list(zip(recorded, starts, strict=True))
    for event in ("cue", "lift", "grab", "at_mouth", "outcome"):
        expected = np.concatenate([start + s.events[event] for s, start in pairs])
        np.testing.assert_array_equal(trials[f"{event}_time"], expected)  # NaN where it did not happen
    ends = np.concatenate([start + s.valid.sum(1) * s.dt for s, start in pairs])
    np.testing.assert_allclose(trials["stop_time"], ends, atol=1e-9)
    for name, data_of in {"cortical_rates": lambda s: s.cortex, "muscle_excitation": lambda s: s.action,
                          "muscle_command": lambda s: s.mean_action,
                          "thalamus_rates": lambda s: s.inputs["thalamus"]}.items():
        data, stamps = stamped(recorded, starts, data_of)
        np.testing.assert_array_equal(series[name][0], data)
        np.testing.assert_array_equal(series[name][1], stamps)
    rates, stamps = series["cortical_rates"]
    assert rates.shape == (sum(int(s.valid.sum()) for s in recorded), PLAN.units)
    assert np.all(np.diff(stamps) > 0)  # one continuous, increasing timeline
    # every sample lies within its trial
    trial = np.searchsorted(trials["start_time"], stamps, side="right") - 1
    assert np.all(stamps < trials["stop_time"][trial])


def test_imaging_exports_the_units_in_view_as_roi_responses(root, tmp_path):
    out = export_run(root, tmp_path / "imaged.nwb", sessions=[2], imaging=IMAGING)
    trials, series, ophys = read(out)
    assert "cortical_rates" not in series and "muscle_excitation" in series
    (recorded,) = load_sessions(root, [2])
    imaged = image_session(recorded, IMAGING)
    data, stamps = stamped([imaged], trial_starts([recorded]), lambda s: s.cortex)
    np.testing.assert_array_equal(ophys["data"], data)
    np.testing.assert_array_equal(ophys["timestamps"], stamps)
    np.testing.assert_array_equal(ophys["units"], units_in_view(PLAN.units, IMAGING))
    np.testing.assert_array_equal(ophys["rois"], np.arange(6))
    assert ophys["data"].shape[1] == 6 and ophys["rate"] == 30.0
    np.testing.assert_allclose(np.diff(stamps)[np.diff(stamps) < 1], 1 / 30)
    np.testing.assert_array_equal(trials["cue_time"], trial_starts([recorded])[0] + recorded.events["cue"])


def test_the_cli_writes_the_file(root, tmp_path, capsys):
    pytest.importorskip("pynwb")
    out = tmp_path / "cli.nwb"
    assert main([str(root), "--out", str(out), "--session", "2", "--imaging", "--field-of-view", "0.5"]) == 0
    assert out.exists() and str(out) in capsys.readouterr().out
    assert not list(tmp_path.glob(".*"))  # no partial file left behind
    trials, _, ophys = read(out)
    assert len(trials["start_time"]) == 6 and ophys["data"].shape[1] == 5


def test_a_folder_without_activity_is_refused(tmp_path):
    pytest.importorskip("pynwb")
    with pytest.raises(FileNotFoundError, match="no recorded activity"):
        export_run(tmp_path, tmp_path / "out.nwb")


def test_a_session_not_recorded_is_refused_by_number(root, tmp_path):
    pytest.importorskip("pynwb")
    with pytest.raises(ValueError, match=r"session\(s\) \[7\] not recorded \(recorded: \[1, 2, 3\]\)"):
        export_run(root, tmp_path / "out.nwb", sessions=[2, 7])


@pytest.mark.parametrize("case", ["no activity", "not recorded", "bad imaging", "bad gap"])
def test_the_cli_exits_2_with_one_line_on_bad_input(root, tmp_path, capsys, case):
    pytest.importorskip("pynwb")
    argv = {"no activity": [str(tmp_path)], "not recorded": [str(root), "--session", "9"],
            "bad imaging": [str(root), "--imaging", "--noise-sd", "-1"],
            "bad gap": [str(root), "--gap", "-1"]}[case]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--out", str(tmp_path / "out.nwb")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "error:" in err
    assert {"no activity": "no recorded activity", "not recorded": "[9] not recorded",
            "bad imaging": "noise_sd", "bad gap": "--gap"}[case] in err
    assert not (tmp_path / "out.nwb").exists()


def test_without_pynwb_the_export_names_the_extra_to_install(root, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynwb", None)  # an import of pynwb now fails
    with pytest.raises(ImportError, match=r"pip install -e \.\[nwb\]"):
        export_run(root, tmp_path / "out.nwb")
    with pytest.raises(SystemExit) as exit_:
        main([str(root), "--out", str(tmp_path / "out.nwb")])
    assert exit_.value.code == 2


def test_the_analysis_package_does_not_import_pynwb_at_module_level():
    # importing analysis must not need the optional extra: pynwb is imported inside the export only
    for path in sorted((Path(__file__).resolve().parents[1] / "analysis").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] in ("pynwb", "hdmf", "h5py") for n in names), path.name
