"""Data-parallel training: two processes (torchrun, gloo, CPU) with batch 1
each train exactly like one process with batch 1 and two accumulation steps."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from conftest import CONFIGS, data_parallel_config, free_port, run_module
from legal_eagle_xtuner.train.plot import read_scalars

STEPS = 4  # optimizer steps; each takes 2 samples (global batch 2)


def _config(tiny_model, path, *, accumulation, max_iters):
    data_parallel_config(tiny_model, path, accumulation=accumulation, max_iters=max_iters)
    return path


def _adapter(path):
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def test_two_processes_equal_one_with_the_same_global_batch(tiny_model, tmp_path):
    single = _config(tiny_model, tmp_path / "single.py", accumulation=2, max_iters=2 * STEPS)
    run_module("xtuner.tools.train", single, "--work-dir", tmp_path / "w1")

    double = _config(tiny_model, tmp_path / "double.py", accumulation=1, max_iters=STEPS)
    # as a user launches it: XTuner's CLI, which runs `torchrun` from PATH (and exits
    # 0 whatever happens); on this CPU host the smoke config's shims start the launcher
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}",
               NPROC_PER_NODE="2", PORT=str(free_port()))
    proc = subprocess.run([str(bindir / "xtuner"), "train", str(double),
                           "--work-dir", str(tmp_path / "w2")],
                          capture_output=True, text=True, timeout=900, env=env)
    log = proc.stdout + proc.stderr
    assert (tmp_path / "w2" / f"iter_{STEPS}.pth").is_file(), log[-4000:]
    assert "Distributed training: True" in log and "GPU number: 2" in log  # mmengine: processes

    one, two = read_scalars(tmp_path / "w1"), read_scalars(tmp_path / "w2")
    # Rank 0 takes samples 0, 2, 4, ... of the shuffled order and rank 1 the
    # odd ones (disjoint halves); one process takes them all, stepping every
    # second. So rank 0's loss at step j is the single run's loss at iteration
    # 2j - 1, under the same weights -- only if the two ranks' gradients were
    # those of the other half of each pair and were averaged.
    losses_one = [v for _, v in one.train["loss"]]
    losses_two = [v for _, v in two.train["loss"]]
    assert len(losses_one) == 2 * STEPS and len(losses_two) == STEPS
    assert losses_two == pytest.approx(losses_one[0::2], abs=1e-5)

    a = _adapter(tmp_path / "w1" / f"iter_{2 * STEPS}.pth")
    b = _adapter(tmp_path / "w2" / f"iter_{STEPS}.pth")
    moved = max(t.abs().max().item() for k, t in a.items() if "lora_B" in k)
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    print(f"adapter: max |B| {moved:.3g}, max abs difference 1 vs 2 processes {diff:.3g}")
    assert moved > 1e-3 and diff <= 1e-5
    # the validation loss is gathered from both ranks: the same number
    assert two.val["val_loss"][-1][1] == pytest.approx(one.val["val_loss"][-1][1], abs=1e-5)


@pytest.mark.parametrize("size, repeated", [(12, 0), (11, 1)])
def test_ranks_take_disjoint_shares_of_each_epoch(size, repeated, monkeypatch):
    # The configs' sampler (mmengine's DefaultSampler with the runner's seed):
    # each rank takes every world_size-th index of the same shuffled order; an
    # epoch that does not divide evenly repeats its first indices to fill up.
    import mmengine.dataset.sampler as sampler_module

    cfg = Config.fromfile(str(CONFIGS / "internlm2_7b_disc.py"))
    assert cfg.train_dataloader.sampler.type is sampler_module.DefaultSampler
    shares = []
    for rank in (0, 1):
        monkeypatch.setattr(sampler_module, "get_dist_info", lambda rank=rank: (rank, 2))
        shares.append(list(sampler_module.DefaultSampler(list(range(size)), shuffle=True,
                                                         seed=42)))
    assert len(shares[0]) == len(shares[1]) == (size + 1) // 2
    assert set(shares[0]) | set(shares[1]) == set(range(size))
    assert len(set(shares[0]) & set(shares[1])) == repeated
