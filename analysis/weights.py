"""Input weight matrices onto the cortex from a run's checkpoints, as the network uses them.

A checkpoint ``RUN/checkpoints/episode_EEEEEE.pt`` (:mod:`training.checkpoint`) holds the cortex's state
dict under ``"cortex"``. The effective matrices (N cortical units x inputs):

- ``thalamus`` (N, M): circuit v2 (a ``tc_mask`` is stored): ``relu(thalamocortical) * tc_mask``, as
  ``agents.circuit.Cortex.effective_thalamocortical`` uses it (excitatory, sparse); circuit v1 (no mask):
  ``thalamocortical`` as stored, signed.
- ``s1``: ``somatosensory`` (N, S); ``cue``: ``auditory`` (N, A); ``outcome``: ``outcome`` (N, O); as stored.
- ``recurrent``: ``recurrent * mask`` (N, N), or ``relu(recurrent) * mask * sign`` (sign per presynaptic
  column) when the checkpoint's ``config["agent"]["dale"]`` is set.

A key the checkpoint lacks leaves its name out of :func:`load_inputs` (never an error).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Input name -> state-dict key of the matrices stored as they act.
_PLAIN = {"s1": "somatosensory", "cue": "auditory", "outcome": "outcome"}


def load_inputs(path: Path) -> dict[str, np.ndarray]:
    """The effective weight matrices of the checkpoint at ``path`` by name (table above), float64."""
    import torch

    state = torch.load(path, weights_only=True, map_location="cpu")
    cortex = state["cortex"]

    def array(key: str) -> np.ndarray:
        return cortex[key].double().numpy()

    out: dict[str, np.ndarray] = {}
    if "thalamocortical" in cortex:
        thalamocortical = array("thalamocortical")
        if "tc_mask" in cortex:  # circuit v2: rectified (excitatory) on the sparse mask
            thalamocortical = np.maximum(thalamocortical, 0.0) * array("tc_mask")
        out["thalamus"] = thalamocortical
    out.update({name: array(key) for name, key in _PLAIN.items() if key in cortex})
    if "recurrent" in cortex:
        config = state.get("config") or {}
        dale = bool((config.get("agent") or {}).get("dale", False))
        recurrent = array("recurrent")
        if dale:
            recurrent = np.maximum(recurrent, 0.0) * array("sign")[None, :]
        out["recurrent"] = recurrent * array("mask")
    return out


def load_weights(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(W_tc (N, M), W_rec_eff (N, N))`` of a checkpoint: the effective thalamocortical and recurrent
    matrices of :func:`load_inputs`.

    Raises:
        KeyError: if the checkpoint has no thalamocortical or recurrent weights.
    """
    inputs = load_inputs(path)
    return inputs["thalamus"], inputs["recurrent"]


def inputs_at(episode: int, found: dict[int, Path], cache: dict[int, dict[str, np.ndarray]]
              ) -> dict[str, np.ndarray] | None:
    """The weights of the latest checkpoint at or before ``episode`` (None if there is none), loaded once
    per checkpoint into ``cache``."""
    earlier = [e for e in found if e <= episode]
    if not earlier:
        return None
    chosen = max(earlier)
    if chosen not in cache:
        cache[chosen] = load_inputs(found[chosen])
    return cache[chosen]
