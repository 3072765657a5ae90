"""Step many copies of one MuJoCo model at once on a thread pool, keeping one MjData per copy.

Per-environment Python logic (trial events, rewards, observations) keeps reading and writing its own
``mujoco.MjData``; only the physics of all copies runs in one native call, spread over ``nthread``
threads. On the 2-core dev machine that is roughly 1.8x the physics throughput
of a single-threaded ``mj_step`` loop (``benchmarks/env_throughput.py`` measures it).

The native path is MuJoCo 4's :class:`mujoco.batch.Batch`, not :mod:`mujoco.rollout`:
``mujoco.rollout`` returns ``mjSTATE_FULLPHYSICS`` states, which lack the solver warm start
(``qacc_warmstart``), so chaining one rollout call per control step is not bit-identical to
``mj_step`` (qpos differs by ~1e-16 m after one call, and contact-rich dynamics can amplify that).
``Batch`` keeps the whole ``mjSTATE_INTEGRATION`` state and is bit-identical to stepping each copy
alone, at any thread count.
"""

from __future__ import annotations

import mujoco
import mujoco.batch
import numpy as np

#: All that mj_step reads or integrates: time, qpos, qvel, act, warm start, ctrl, applied forces.
_STATE = mujoco.mjtState.mjSTATE_INTEGRATION


class BatchedPhysics:
    """``n`` simulations of ``model``, stepped together; ``datas[i]`` is simulation i's MjData.

    After :meth:`step`, each ``datas[i]`` is exactly what ``mujoco.mj_step(model, datas[i],
    nstep=nstep)`` would have left: state (``qpos``, ``qvel``, ``act``, ``qacc_warmstart``,
    ``time``) and derived fields (``xpos``, ``site_xpos``, contacts, actuator lengths and forces,
    warnings), which, as with ``mj_step``, describe the state before the last substep. Writes to
    ``datas[i]`` between calls (a reset, a keyframe, a moved pellet) are picked up by the next call.

    Args:
        model: the compiled model; its options (time step in s, solver) apply to every copy.
        n: number of simulations.
        nthread: worker threads, including the caller's; 0 means one per CPU.
    """

    def __init__(self, model: mujoco.MjModel, n: int, nthread: int = 2):
        if n < 1:
            raise ValueError(f"n={n} must be at least 1")
        self.model = model
        self.n = n
        self.datas: list[mujoco.MjData] = [mujoco.MjData(model) for _ in range(n)]
        # persistent: one MjData per simulation inside the batch, so derived fields and contacts
        # survive the call and can be copied out; a shared scratch MjData would hold another
        # simulation's values.
        self._batch = mujoco.batch.Batch(model, n, nthread=nthread, persistent=True)
        self._rows = self._batch.state  # (n, nstate) live view of the batch's state rows
        self._ctrl = self._batch.bind("ctrl")  # (n, nu) live view into those rows

    def step(self, ctrl: np.ndarray, nstep: int = 1) -> None:
        """Apply ``ctrl`` and advance every simulation by ``nstep`` physics steps.

        Args:
            ctrl: actuator controls, shape ``(n, model.nu)``, in each actuator's units (here muscle
                excitation in [0, 1], the turntable's target angle in rad). Held for all substeps
                and left in ``datas[i].ctrl``.
            nstep: physics steps of ``model.opt.timestep`` seconds each.

        Raises:
            ValueError: wrong ``ctrl`` shape or non-positive ``nstep``.
            mujoco.batch.SimulationError: MuJoCo raised in some simulations; those keep their state.
        """
        ctrl = np.asarray(ctrl, dtype=np.float64)
        expected = (self.n, self.model.nu)
        if ctrl.shape != expected:
            raise ValueError(f"ctrl has shape {ctrl.shape}, expected {expected} (n, model.nu)")
        if nstep < 1:
            raise ValueError(f"nstep={nstep} must be at least 1")
        model, rows = self.model, self._rows
        for i, data in enumerate(self.datas):
            mujoco.mj_getState(model, data, rows[i], _STATE)
        self._ctrl[:] = ctrl
        self._batch.step(nstep=nstep)
        for i, data in enumerate(self.datas):
            self._batch.get_data(i, data)
