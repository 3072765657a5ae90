"""Where the runs of a sweep execute: a local process pool (default) or a Ray cluster.

Both offer the same three calls, so the sweep's scheduling (forks wait for their parents, failures
are isolated) is written once: ``submit(fn, *args) -> handle``, ``wait(handles, timeout) -> [(handle,
result)]`` for those finished, and use as a context manager. ``fn`` must not raise (a run reports its own
failure); if a worker process dies anyway, ``wait`` turns that into a failed result.

The sweep commands (``training.ablate``, ``training.versus_sb3``) also share their frame from here: a
SIGTERM that stops the workers, the folder's claim by its settings, and the timing and exit status at
the end.
"""

from __future__ import annotations

import json
import multiprocessing
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from analysis import run_format


def _crash_result(error: BaseException) -> dict[str, Any]:
    return {"status": "failed", "error": f"worker died: {type(error).__name__}: {error}"}


class LocalBackend:
    """A pool of ``workers`` processes on this machine (spawned, so no state leaks from the parent)."""

    def __init__(self, workers: int = 2):
        self.workers = workers
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn, *args) -> Future:
        try:
            return self._pool.submit(fn, *args)
        except BrokenProcessPool:
            # A worker died (e.g. killed for memory): the old pool is unusable, the sweep goes on.
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return self._pool.submit(fn, *args)

    def wait(self, handles: list[Future], timeout: float) -> list[tuple[Future, Any]]:
        if not handles:
            return []
        finished, _ = wait_futures(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        results = []
        for future in finished:
            try:
                results.append((future, future.result()))
            except Exception as error:  # noqa: BLE001 - a crashed worker becomes a failed run
                results.append((future, _crash_result(error)))
        return results

    def __enter__(self) -> LocalBackend:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:
            # Interrupted (Ctrl-C, SIGTERM from a scheduler): stop the runs now. A worker left running
            # would go on writing into its run folder while a restarted sweep resumes the same run.
            # The executor has no public way to end running tasks before Python 3.14.
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.terminate()
            self._pool.shutdown(wait=False, cancel_futures=True)
            return
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayBackend:
    """Tasks on a Ray cluster (``ray.init(address=...)``), one CPU each.

    Every node must see the sweep's output folder (a shared filesystem): runs write their folders
    there and forks read their parent's checkpoints from it.
    """

    def __init__(self, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise RuntimeError("--backend ray needs Ray: pip install 'dopareach[ray]'") from None
        self._ray = ray
        self._started_here = not ray.is_initialized()
        if self._started_here:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        self._remote: dict[Any, Any] = {}

    def submit(self, fn, *args):
        remote = self._remote.get(fn)
        if remote is None:
            remote = self._remote[fn] = self._ray.remote(num_cpus=1, max_retries=0)(fn)
        return remote.remote(*args)

    def wait(self, handles: list, timeout: float) -> list[tuple[Any, Any]]:
        if not handles:
            return []
        ready, _ = self._ray.wait(handles, num_returns=1, timeout=timeout)
        results = []
        for ref in ready:
            try:
                results.append((ref, self._ray.get(ref)))
            except Exception as error:  # noqa: BLE001 - a lost worker or node becomes a failed run
                results.append((ref, _crash_result(error)))
        return results

    def __enter__(self) -> RayBackend:
        return self

    def __exit__(self, *exc) -> None:
        if self._started_here:
            self._ray.shutdown()


def make_backend(name: str, workers: int = 2, address: str | None = None):
    """``"local"`` (process pool of ``workers``) or ``"ray"`` (cluster at ``address``)."""
    if name == "local":
        return LocalBackend(workers)
    if name == "ray":
        return RayBackend(address)
    raise ValueError(f"backend {name!r} must be 'local' or 'ray'")


def _interrupted(signum, frame) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def sigterm_exits() -> Iterator[None]:
    """Within the block, a scheduler's SIGTERM ends the sweep as Ctrl-C does: through the backend's exit,
    which stops the workers, so that a restarted sweep is the only writer of the runs it resumes."""
    previous = signal.signal(signal.SIGTERM, _interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def claim_folder(path: Path, settings: dict[str, Any], defaults: dict[str, Any]) -> bool:
    """Record a sweep's ``settings`` in ``path`` (its settings file); False if the file holds others.

    ``settings`` are compared as JSON reads them back (tuples as lists); ``defaults`` are the values of
    fields newer than the folder, which a settings file written before them lacks."""
    settings = json.loads(json.dumps(settings))
    if path.exists() and {**defaults, **json.loads(path.read_text())} != settings:
        return False
    path.write_text(json.dumps(settings, indent=1))
    return True


def open_sweep_folder(out: str | Path, settings_file: str, settings: dict[str, Any],
                      defaults: dict[str, Any], what: str) -> Path:
    """The output folder of a sweep command, made if missing and claimed by its ``settings``
    (:func:`claim_folder`, in ``out / settings_file``).

    Raises:
        ConfigError: the folder holds ``what`` (e.g. "an ablation") with other settings.
    """
    from training.config import ConfigError

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    saved = out / settings_file
    if not claim_folder(saved, settings, defaults):
        raise ConfigError(f"{out} holds {what} with other settings ({saved}); use another --out")
    return out


def end_sweep(out: Path, started: float, runs_s: float, report: Path,
              failed: dict[str, dict[str, Any]]) -> int:
    """The end of a sweep's command line: its timing (``timing.json``), the report's path and the
    failed runs printed; the exit status (1 if any run failed)."""
    total_s = time.perf_counter() - started
    run_format.write_timing(out, runs_s, total_s)
    print(f"report: {report}  ({total_s:.0f} s in all)")
    for result in failed.values():
        print(f"FAILED {result['key']}: {result['error']}", file=sys.stderr)
    return 1 if failed else 0
