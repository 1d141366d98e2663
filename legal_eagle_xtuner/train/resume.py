"""Exact resume: a run killed and resumed ends where an uninterrupted one ends.

What mmengine 0.10.6 / xtuner 0.2.0 get right: the model, optimizer, scheduler
and iteration count are in the checkpoint, and the train loop fast-forwards
the dataloader by the iterations done, so the data order after a resume is
the uninterrupted order.

What they miss, and this module adds:

* **Random state.** Checkpoints carry no RNG state, so after a resume LoRA
  dropout draws different masks and the adapter drifts away from the
  uninterrupted run's (3e-3 max abs difference after 12 tiny-model
  iterations). :class:`ExactResumeHook` stores the Python, numpy, torch CPU and
  CUDA generators in every checkpoint and puts them back right before the
  first resumed iteration -- after the dataloader fast-forward, whose
  iterator creation draws from torch's generator in the original run too.
* **Validation drawing from the training stream.** Creating the validation
  dataloader's iterator draws a seed from torch's global generator; at a
  checkpoint iteration that draw happens after the checkpoint was written, so
  a resumed run would be one draw behind. :class:`~legal_eagle_xtuner.train.validation.ValLossLoop`
  runs under :func:`torch.random.fork_rng`, which also makes training
  independent of whether and how often it is validated.
* **Half-written checkpoints** -- see :func:`is_complete_checkpoint` and the
  checkpoint I/O shims in :mod:`legal_eagle_xtuner.compat`.
"""

from __future__ import annotations

import os
import random
import re
import zipfile
from pathlib import Path

import numpy as np
import torch
from mmengine.hooks import Hook

__all__ = ["ExactResumeHook", "is_complete_checkpoint", "latest_complete_checkpoint"]

RNG_KEY = "legal_eagle_rng_state"


def _capture() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


class ExactResumeHook(Hook):
    """What a resumed run needs to continue exactly:

    * the random generators are saved with each checkpoint and restored right
      before the first resumed iteration (with one checkpoint file for all
      ranks, every rank gets rank 0's state; they share the seed);
    * a validation due at the checkpoint's iteration runs again first: mmengine
      validates *after* writing the checkpoint, so a kill in between would
      leave a gap in the validation curve (a validation that did finish is
      repeated with the same value; ``legal-eagle plot`` keeps one).
    """

    priority = "VERY_LOW"

    def __init__(self) -> None:
        self._pending: dict | None = None
        self._resumed_at = 0

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[RNG_KEY] = _capture()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, "_resume", True):
            return  # load_from without resume: weights only, a fresh run
        state = checkpoint.get(RNG_KEY)
        if state is None:
            runner.logger.warning(
                "the checkpoint has no random state (written without ExactResumeHook): "
                "training resumes, but dropout masks will differ from an "
                "uninterrupted run")
        self._pending = state
        self._resumed_at = int(checkpoint.get("meta", {}).get("iter", 0) or 0)

    def before_train(self, runner) -> None:
        step, self._resumed_at = self._resumed_at, 0
        if not step or getattr(runner, "_val_loop", None) is None:
            return
        loop = runner.train_loop
        interval, begin = getattr(loop, "val_interval", 0), getattr(loop, "val_begin", 1)
        if interval and step >= begin and step % interval == 0:
            runner.logger.info(f"resumed at iteration {step}: validating it first")
            runner.val_loop.run()

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._pending is not None:
            _restore(self._pending)
            self._pending = None


_ITER_FILE = re.compile(r"^iter_(\d+)\.pth$")


def is_complete_checkpoint(path) -> bool:
    """Whether ``path`` is a whole checkpoint: a file in torch's zip format
    whose central directory (written last) is intact, or a DeepSpeed checkpoint
    directory. A checkpoint cut short by a kill fails this."""
    path = Path(path)
    if path.is_dir():
        return any(path.iterdir())
    try:
        return path.is_file() and zipfile.is_zipfile(path)
    except OSError:
        return False


def latest_complete_checkpoint(work_dir) -> str | None:
    """The newest whole ``iter_N.pth`` in ``work_dir`` (by N), or ``None``."""
    found = []
    try:
        names = os.listdir(work_dir)
    except OSError:
        return None
    for name in names:
        match = _ITER_FILE.match(name)
        if match:
            found.append((int(match.group(1)), os.path.join(work_dir, name)))
    for _, path in sorted(found, reverse=True):
        if is_complete_checkpoint(path):
            return path
    return None
