"""Shims for mmengine 0.10.6 (pinned by xtuner 0.2.0): checkpoints cut short by a
kill, ``torch.load``'s weights-only default, the launcher's ``torch.cuda.set_device``
on a host without a GPU, and FlexibleRunner's model built after the dataloader."""

from __future__ import annotations

import functools
import logging
import os

import torch


def _patch_checkpoint_io() -> bool:
    """mmengine 0.10.6 can resume from a checkpoint cut short by a kill.

    Bug: ``LocalBackend.put`` (which ``save_checkpoint`` uses) writes the file
    in place, and ``CheckpointHook`` then overwrites ``last_checkpoint`` in
    place; ``Runner``/``FlexibleRunner`` ``load_or_resume`` trusts whatever
    ``find_latest_checkpoint`` reads there. A kill while either is written
    leaves a truncated ``iter_N.pth`` or an empty ``last_checkpoint``, and
    ``resume=True`` then crashes in ``torch.load`` or silently starts over.
    Affects: mmengine 0.10.x (checked on 0.10.6). Remove when mmengine writes
    checkpoints through a temporary file and validates the resume point.

    The shim makes ``put`` write to a temporary file beside the target and
    rename it into place, and makes the resume lookup return the newest
    *complete* ``iter_N.pth`` when ``last_checkpoint`` is missing, empty, or
    names a file that is not a whole checkpoint (with a warning saying so).
    """
    import tempfile

    import mmengine.runner._flexible_runner as flexible
    import mmengine.runner.runner as runner_module
    from mmengine.fileio.backends.local_backend import LocalBackend
    from mmengine.logging import print_log

    if getattr(LocalBackend.put, "legal_eagle_shim", False):
        return False

    def put(self, obj: bytes, filepath) -> None:
        directory = os.path.dirname(os.fspath(filepath)) or "."
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(filepath)}.", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(obj)
            os.replace(tmp, filepath)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    put.legal_eagle_shim = True
    LocalBackend.put = put

    original = runner_module.find_latest_checkpoint

    def find_latest_checkpoint(path):
        from legal_eagle_xtuner.train.resume import is_complete_checkpoint, latest_complete_checkpoint

        named = original(path)
        if named and is_complete_checkpoint(named):
            return named
        fallback = latest_complete_checkpoint(path)
        if named or fallback:
            print_log(f"last_checkpoint names {named or 'nothing'!s}, which is not a whole "
                      f"checkpoint; resuming from {fallback or 'scratch'} instead",
                      logger="current", level=logging.WARNING)
        return fallback

    runner_module.find_latest_checkpoint = find_latest_checkpoint
    flexible.find_latest_checkpoint = find_latest_checkpoint
    return True


@functools.lru_cache(maxsize=None)
def _torch_load_defaults_to_weights_only() -> bool:
    """Whether a plain ``torch.load(f)`` refuses pickled Python objects (torch >= 2.6
    unless ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is set); asked of torch itself."""
    import io
    import pickle
    import types
    import warnings

    buffer = io.BytesIO()
    torch.save(types.SimpleNamespace(), buffer)
    buffer.seek(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 2.4/2.5 warn about the coming default
        try:
            torch.load(buffer)
        except pickle.UnpicklingError:
            return True
    return False


def _patch_mmengine_weights_only_load() -> bool:
    """mmengine 0.10.6 cannot resume from its own checkpoints under torch >= 2.6.

    Bug: torch 2.6 made ``weights_only=True`` the default of ``torch.load``;
    mmengine's local checkpoint loader (``load_from_local``, used by ``resume`` and
    ``load_from``) calls it without the argument, and mmengine checkpoints pickle
    Python objects (``HistoryBuffer``, numpy arrays, ``ExactResumeHook``'s RNG
    state): ``UnpicklingError: Weights only load failed ... Unsupported global:
    GLOBAL mmengine.logging.history_buffer.HistoryBuffer`` (open-mmlab/mmengine#1655).
    Affects: mmengine 0.10.x (checked on 0.10.6) with torch >= 2.6 (checked on
    2.14.1 and 2.15.0); inactive on torch 2.5.1. Remove when mmengine passes
    ``weights_only`` itself.

    Re-registers the ``''`` scheme of ``CheckpointLoader`` as the same loader with
    ``weights_only=False`` (torch's pre-2.6 behaviour), for local files only; URL
    loaders keep torch's default. ``xtuner train --resume PATH`` reads the seed with
    a bare ``torch.load`` before any config import can apply this: use
    ``--cfg-options resume=True load_from=PATH`` (docs/torch_stacks.md).
    """
    import os.path as osp

    from mmengine.runner import checkpoint as mm_checkpoint

    current = mm_checkpoint.CheckpointLoader._schemes.get("")
    if getattr(current, "legal_eagle_shim", False) or not _torch_load_defaults_to_weights_only():
        return False

    def load_from_local(filename, map_location):  # mmengine logs the name after "load_from_"
        filename = osp.expanduser(filename)
        if not osp.isfile(filename):
            raise FileNotFoundError(f"{filename} can not be found.")
        return torch.load(filename, map_location=map_location, weights_only=False)

    load_from_local.legal_eagle_shim = True
    mm_checkpoint.CheckpointLoader.register_scheme("", loader=load_from_local, force=True)
    mm_checkpoint.load_from_local = load_from_local
    return True


def _patch_launcher_cuda_device() -> bool:
    """mmengine 0.10.6's ``pytorch`` launcher cannot start on a host without a GPU.

    Bug: ``mmengine.dist.utils._init_dist_pytorch`` calls
    ``torch.cuda.set_device(LOCAL_RANK)`` unconditionally before it initialises the
    process group, so every ``torchrun`` launch (``NPROC_PER_NODE``/``NNODES`` with
    ``xtuner train``, with or without ``--deepspeed``) raises "Found no NVIDIA driver"
    on a CPU-only host, even with the ``gloo`` backend. Affects: mmengine 0.10.x
    (checked on 0.10.6). Remove when mmengine picks the device from the backend.

    Without CUDA, the launcher runs with ``torch.cuda.set_device`` a no-op for the
    duration of the call (there is no device to select); with CUDA it is untouched.
    Applies where this package is imported before the runner: always with
    ``--deepspeed`` or a smoke config (``custom_imports``); without ``--deepspeed`` a
    shipped config imports it only when the model is built, after the launcher.
    """
    import mmengine.dist.utils as dist_utils

    original = dist_utils._init_dist_pytorch
    if getattr(original, "legal_eagle_shim", False):
        return False

    @functools.wraps(original)
    def _init_dist_pytorch(*args, **kwargs):
        if torch.cuda.is_available():
            return original(*args, **kwargs)
        set_device = torch.cuda.set_device
        torch.cuda.set_device = lambda device: None
        try:
            return original(*args, **kwargs)
        finally:
            torch.cuda.set_device = set_device

    _init_dist_pytorch.legal_eagle_shim = True
    dist_utils._init_dist_pytorch = _init_dist_pytorch
    return True


def _patch_model_seed() -> bool:
    """mmengine 0.10.6's FlexibleRunner initialises LoRA differently from Runner.

    Bug: ``Runner`` builds the model right after seeding (``randomness``), while
    ``FlexibleRunner`` -- which ``xtuner train --deepspeed`` uses -- builds it after
    the dataloader, and building the dataloader draws from torch's generator first.
    The same config and seed therefore start from another LoRA initialisation with
    ``--deepspeed`` than without, and losses differ by ~1e-2 after a dozen steps.
    Affects: mmengine 0.10.x, every model whose initialisation is random (LoRA).
    Remove when FlexibleRunner builds the model at the point Runner does.

    Reseeds torch's generators with the run's seed (``torch.initial_seed()``, which
    mmengine's ``set_random_seed`` set, the same on every rank) when xtuner's
    ``SupervisedFinetune`` is built, so both runners start from the same state at that
    point: with ``Runner`` nothing draws between seeding and the model, so its runs are
    unchanged; with any number of processes every rank initialises identically.
    """
    import xtuner.model.sft as sft

    cls = sft.SupervisedFinetune
    original = cls.__init__
    if getattr(original, "legal_eagle_shim", False):
        return False

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        torch.manual_seed(torch.initial_seed())
        original(self, *args, **kwargs)

    __init__.legal_eagle_shim = True
    cls.__init__ = __init__
    return True
