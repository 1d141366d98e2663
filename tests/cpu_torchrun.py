"""xtuner's training entry under torchrun on a host without a GPU (tests only).

mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device(LOCAL_RANK)``
unconditionally before it initialises the process group; on a CPU-only host
that raises "Found no NVIDIA driver". Here it is a no-op when CUDA is absent;
everything else is ``python -m xtuner.tools.train`` unchanged.
"""

import runpy
import sys

import torch

if not torch.cuda.is_available():
    torch.cuda.set_device = lambda device: None

sys.argv[0] = "xtuner.tools.train"
runpy.run_module("xtuner.tools.train", run_name="__main__", alter_sys=True)
