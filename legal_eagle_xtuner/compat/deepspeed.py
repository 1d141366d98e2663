"""Shims for deepspeed 0.16.2 (the ``deepspeed`` extra, xtuner 0.2.0's release)."""

from __future__ import annotations

import sys


def _patch_cpu_shm_comm_build() -> bool:
    """deepspeed 0.16.2 compiles a C++ op on every CPU start that training never uses.

    Bug: ``deepspeed.comm.torch.TorchBackend.__init__`` (run by
    ``deepspeed.init_distributed``, i.e. by every ``xtuner train --deepspeed`` launch)
    calls ``build_shm_op()``, which on the CPU accelerator JIT-compiles
    ``deepspeed_shm_comm`` with g++ and ninja: about 100 s on the first start, a
    failure where no compiler is installed. The op only serves
    ``inference_all_reduce`` (DeepSpeed-Inference's tensor parallelism on CPU), which
    falls back to ``torch.distributed.all_reduce`` without it; ZeRO training
    communicates through ``torch.distributed``. Affects: deepspeed 0.16.x on the CPU
    accelerator (a host without a GPU); GPU accelerators build no such op. Remove
    with a DeepSpeed that builds the op only when it is used.

    Replaces ``build_shm_op`` with one that returns ``None`` (no op) on the CPU
    accelerator and calls the original elsewhere. Patched where deepspeed is already
    imported: ``xtuner train`` imports it (through ``xtuner.model``) before loading
    the config, which imports this package before the runner initialises DeepSpeed.
    """
    comm = sys.modules.get("deepspeed.comm.torch")
    if comm is None or getattr(comm.build_shm_op, "legal_eagle_shim", False):
        return False
    original = comm.build_shm_op

    def build_shm_op():
        from deepspeed.accelerator import get_accelerator

        if get_accelerator().device_name() == "cpu":
            return None
        return original()

    build_shm_op.legal_eagle_shim = True
    comm.build_shm_op = build_shm_op
    return True
