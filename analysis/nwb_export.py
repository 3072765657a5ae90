"""Export of a run's recorded activity and trial events to Neurodata Without Borders (NWB 2, pynwb), so that
other labs' tools (NWB widgets, suite2p-style pipelines, DANDI) can read it.

``python -m analysis.nwb_export RUN_DIR --out FILE.nwb [--session N ...] [--imaging]`` writes one file
with the chosen recorded sessions (default: all) of the run's ``activity/`` (:mod:`agents.recording`):

==========================================  ===============================================================
NWB object                                  content
==========================================  ===============================================================
``acquisition/cortical_rates``              TimeSeries (samples, N): the cortex's rates (tanh units, n.a.)
                                            (without ``--imaging``)
``processing/ophys``                        with ``--imaging`` (:mod:`analysis.calcium`):
                                            ``ImageSegmentation`` with one ``PlaneSegmentation`` row per
                                            unit in view (column ``unit``: its index in the cortex; a
                                            one-pixel mask on a square grid, a placeholder: the model has
                                            no space), and ``DfOverF`` with the ``RoiResponseSeries``
                                            (frames, units in view) of their dF/F at the imaging frames
``acquisition/thalamus_rates`` etc.         TimeSeries of each recorded input population (thalamus, s1,
                                            cue: :data:`analysis.sessions.INPUT_ARRAYS`)
``processing/behavior/muscle_excitation``   TimeSeries (samples, 15): the excitation sent to the muscles
                                            (exploration noise included)
``processing/behavior/muscle_command``      the policy's noise-free mean excitation (runs that record it)
``trials``                                  one row per trial: ``start_time``, ``stop_time`` (the end of
                                            its last valid sample), ``session``, ``episode``,
                                            ``success``, and ``<event>_time`` for each event (cue, lift,
                                            grab, at_mouth, outcome; NaN: did not happen)
==========================================  ===============================================================

**Timeline.** The trials are laid end to end on one continuous NWB time axis, sessions in order, trials in
recorded order: with ``L`` the recording's trial length (its samples times their length, the longest of
the sessions exported) and ``gap_s`` the inter-trial gap (1 s), trial i of the file (0-based, over all
its sessions) starts at ``i (L + gap_s)``; every time within the trial (events, samples) is that start
plus its time from the trial's start. Only valid samples (frames) are written, each stamped with its
midpoint (a sample's value is its mean over the sample), so the series carry explicit ``timestamps``.

pynwb is optional (``pip install -e .[nwb]``): importing this module does not need it, exporting does.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from analysis.calcium import CalciumConfig, image_session, units_in_view
from analysis.run_format import activity_files, run_name
from analysis.sessions import Session, load_session

#: Per input population (analysis name), its TimeSeries in ``acquisition``.
INPUT_SERIES = {"thalamus": "thalamus_rates", "s1": "s1_rates", "cue": "cue_input_rates"}
CORTEX_SERIES = "cortical_rates"
MUSCLE_SERIES, COMMAND_SERIES = "muscle_excitation", "muscle_command"
DFF_SERIES = "RoiResponseSeries"
#: The inter-trial gap (s) of the timeline (module docstring).
GAP_S = 1.0


def _pynwb():
    try:
        import pynwb
    except ImportError as error:
        raise ImportError("NWB export needs pynwb, an optional dependency: pip install -e .[nwb]") from error
    return pynwb


def trial_starts(sessions: list[Session], gap_s: float = GAP_S) -> list[np.ndarray]:
    """Per session, the NWB start time (s) of each trial (module docstring, "Timeline")."""
    length = max(float(s.mid[-1] + s.dt / 2) for s in sessions)
    counts = np.cumsum([0] + [s.n for s in sessions])
    return [(counts[i] + np.arange(s.n)) * (length + gap_s) for i, s in enumerate(sessions)]


def stamped(sessions: list[Session], starts: list[np.ndarray],
            data_of: Callable[[Session], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The valid samples of ``data_of(s)`` (n, T, ...) of every session, in session and trial order, and
    their NWB timestamps (the sample midpoints on the timeline of :func:`trial_starts`)."""
    data = [data_of(s)[s.valid] for s in sessions]
    stamps = [(start[:, None] + s.mid[None, :])[s.valid] for s, start in zip(sessions, starts, strict=True)]
    return np.concatenate(data), np.concatenate(stamps)


def load_sessions(run_dir: Path, numbers: list[int] | None = None) -> list[Session]:
    """The run's recorded sessions ``numbers`` (default: all), in order.

    Raises:
        FileNotFoundError: if the run has no recorded activity.
        ValueError: if a session in ``numbers`` was not recorded.
    """
    files = activity_files(Path(run_dir))
    if not files:
        raise FileNotFoundError(f"{run_dir}: no recorded activity (no activity/session_NN.npz)")
    chosen = sorted(set(files if numbers is None else numbers))
    missing = [n for n in chosen if n not in files]
    if missing:
        raise ValueError(f"{run_dir}: session(s) {missing} not recorded (recorded: {sorted(files)})")
    return [load_session(files[n], n) for n in chosen]


def export_run(run_dir: Path, out: Path, sessions: list[int] | None = None,
               imaging: CalciumConfig | None = None, gap_s: float = GAP_S) -> Path:
    """Write the recorded ``sessions`` (default: all) of the run in ``run_dir`` to the NWB file ``out``
    (module docstring), the cortex as rates or, with ``imaging``, as simulated dF/F; returns ``out``.

    Raises:
        ImportError: without pynwb.
        FileNotFoundError: if the run has no recorded activity.
        ValueError: if a session was not recorded, or the sessions differ in their number of units.
    """
    pynwb = _pynwb()
    from pynwb.ophys import DfOverF, ImageSegmentation, OpticalChannel, RoiResponseSeries

    run_dir, out = Path(run_dir), Path(out)
    recorded = load_sessions(run_dir, sessions)
    units = {s.cortex.shape[2] for s in recorded}
    if len(units) > 1:
        raise ValueError(f"{run_dir}: the sessions recorded different numbers of cortical units "
                         f"{sorted(units)}")
    starts = trial_starts(recorded, gap_s)
    first_file = activity_files(run_dir)[recorded[0].number]
    numbers = [s.number for s in recorded]
    nwb = pynwb.NWBFile(
        session_description=f"dopareach run {run_name(run_dir)}: recorded sessions {numbers}, trials laid "
                            f"end to end with {gap_s} s gaps",
        identifier=f"dopareach-{run_name(run_dir)}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}",
        session_start_time=datetime.fromtimestamp(os.path.getmtime(first_file), UTC),
        experiment_description="In-silico motor learning: a dopamine-gated recurrent cortex learns a mouse "
                               "forelimb reach in MuJoCo (dopareach).",
        keywords=["simulation", "motor cortex", "dopamine", "reach"])

    if imaging is None:
        data, stamps = stamped(recorded, starts, lambda s: s.cortex)
        nwb.add_acquisition(pynwb.TimeSeries(
            name=CORTEX_SERIES, data=data, timestamps=stamps, unit="n.a.",
            description="cortical rates (tanh network, in (-1, 1); 0 = rest), sample means, stamped at the "
                        "sample midpoints"))
    else:
        imaged = [image_session(s, imaging) for s in recorded]
        view = units_in_view(units.pop(), imaging)
        device = nwb.create_device(name="simulated_microscope",
                                   description="the calcium-imaging forward model of analysis.calcium")
        channel = OpticalChannel(name="green", description="GCaMP emission (simulated)",
                                 emission_lambda=510.0)
        plane = nwb.create_imaging_plane(
            name="imaging_plane", optical_channel=channel, device=device, excitation_lambda=920.0,
            imaging_rate=float(imaging.frame_rate_hz), indicator="GCaMP6s-like (simulated)",
            location="model cortex (M1 layer 2/3 counterpart)",
            description=f"simulated imaging: {imaging.model_dump()}")
        ophys = nwb.create_processing_module(name="ophys", description="simulated calcium imaging of the "
                                                                      "model cortex (analysis.calcium)")
        segmentation = ImageSegmentation()
        rois = segmentation.create_plane_segmentation(
            name="PlaneSegmentation", imaging_plane=plane,
            description="one ROI per imaged unit; its one-pixel mask on a square grid is a placeholder")
        rois.add_column(name="unit", description="index of the unit in the recorded cortex")
        side = int(np.ceil(np.sqrt(len(view))))
        for i, unit in enumerate(view):
            rois.add_roi(pixel_mask=[(i % side, i // side, 1.0)], unit=int(unit))
        ophys.add(segmentation)
        data, stamps = stamped(imaged, starts, lambda s: s.cortex)
        region = rois.create_roi_table_region(region=list(range(len(view))), description="the imaged units")
        dff = DfOverF()
        ophys.add(dff)  # in the file before its series, which links to the ROI table there
        dff.add_roi_response_series(RoiResponseSeries(
            name=DFF_SERIES, data=data, rois=region, unit="n.a.", timestamps=stamps,
            description=f"dF/F (fraction) of the imaged units, each frame's mean over its "
                        f"{1 / imaging.frame_rate_hz:.4f} s period, stamped at the frame midpoints"))

    for name, series in INPUT_SERIES.items():
        if all(name in s.inputs for s in recorded):
            data, stamps = stamped(recorded, starts, lambda s, name=name: s.inputs[name])
            nwb.add_acquisition(pynwb.TimeSeries(name=series, data=data, timestamps=stamps, unit="n.a.",
                                                 description=f"rates of the {name} input population"))
    behavior = nwb.create_processing_module(name="behavior", description="the muscles' excitations")
    data, stamps = stamped(recorded, starts, lambda s: s.action)
    behavior.add(pynwb.TimeSeries(name=MUSCLE_SERIES, data=data, timestamps=stamps, unit="n.a.",
                                  description="excitation sent to the 15 muscles (exploration noise "
                                              "included)"))
    if all(s.mean_action is not None for s in recorded):
        data, stamps = stamped(recorded, starts, lambda s: s.mean_action)
        behavior.add(pynwb.TimeSeries(name=COMMAND_SERIES, data=data, timestamps=stamps, unit="n.a.",
                                      description="the policy's noise-free mean excitation of the 15 "
                                                  "muscles"))

    _add_trials(nwb, recorded, starts)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.stem}.partial.nwb")  # pynwb warns about names not ending in .nwb
    with pynwb.NWBHDF5IO(str(temporary), mode="w") as io:
        io.write(nwb)
    temporary.replace(out)  # an interrupted export never leaves a half-written file under the final name
    return out


def _add_trials(nwb, sessions: list[Session], starts: list[np.ndarray]) -> None:
    events = list(sessions[0].events)
    nwb.add_trial_column(name="session", description="1-based training session")
    nwb.add_trial_column(name="episode", description="protocol episode (0-based)")
    nwb.add_trial_column(name="success", description="the pellet reached the mouth")
    for event in events:
        nwb.add_trial_column(name=f"{event}_time", description=f"time (s) of the {event} event on the file's "
                                                               f"timeline (NaN: did not happen)")
    for s, start in zip(sessions, starts, strict=True):
        any_valid = s.valid.any(1)
        last = s.valid.shape[1] - 1 - np.argmax(s.valid[:, ::-1], 1)
        stop = start + np.where(any_valid, s.mid[last] + s.dt / 2, 0.0)
        for i in range(s.n):
            nwb.add_trial(start_time=float(start[i]), stop_time=float(stop[i]), session=s.number,
                          episode=int(s.episode[i]), success=bool(s.success[i]),
                          **{f"{event}_time": float(start[i] + s.events[event][i]) for event in events})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.nwb_export",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="a run folder with activity/session_NN.npz")
    parser.add_argument("--out", type=Path, required=True, help="the NWB file to write")
    parser.add_argument("--session", type=int, nargs="+", help="sessions to export (default: all recorded)")
    parser.add_argument("--imaging", action="store_true",
                        help="export the cortex as simulated calcium imaging (analysis.calcium), not rates")
    parser.add_argument("--field-of-view", type=float, default=CalciumConfig().field_of_view,
                        help="with --imaging: fraction of the units imaged")
    parser.add_argument("--noise-sd", type=float, default=CalciumConfig().noise_sd,
                        help="with --imaging: SD of the Gaussian shot noise (dF/F)")
    parser.add_argument("--imaging-seed", type=int, default=CalciumConfig().seed,
                        help="with --imaging: seed of the field of view and the noise")
    parser.add_argument("--gap", type=float, default=GAP_S, help="gap (s) between trials on the timeline")
    args = parser.parse_args(argv)
    try:
        imaging = (CalciumConfig(field_of_view=args.field_of_view, noise_sd=args.noise_sd,
                                 seed=args.imaging_seed) if args.imaging else None)
        if not args.gap >= 0:
            raise ValueError(f"--gap={args.gap} must be >= 0")
        out = export_run(args.run_dir, args.out, args.session, imaging, args.gap)
    except (ImportError, OSError, ValueError) as error:
        if isinstance(error, ValidationError):  # its first line only counts the errors
            message = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors())
        else:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
        parser.exit(2, f"{parser.prog}: error: {message}\n")
    print(f"wrote {out}")
    return 0


__all__ = ["GAP_S", "export_run", "load_sessions", "main", "stamped", "trial_starts"]

if __name__ == "__main__":
    sys.exit(main())
