"""DeepSpeed for real, on CPU: a smoke variant of configs/internlm2_7b_disc.py trained
by XTuner's own CLI and JSONs (`NPROC_PER_NODE=2 xtuner train CFG --deepspeed
deepspeed_zero2|3`, two processes over gloo), against the same config without
DeepSpeed in one process with the same global batch. ZeRO-2 and ZeRO-3 train as that
run does, `pth_to_hf` converts their checkpoint folders without loss, two nodes
(`NNODES=2 NODE_RANK=0|1 ADDR PORT`, one process each) train as one node with two,
and a ZeRO-2 run killed after a checkpoint and resumed ends where the uninterrupted
run ends; one process with DeepSpeed trains as without. Tolerances are the measured
differences with headroom; each is printed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import data_parallel_config, free_port, run_module
from legal_eagle_xtuner.train.plot import read_scalars

STEPS = 4  # optimizer steps of the DeepSpeed runs; each takes 2 samples (global batch 2)
EVERY = 2  # their checkpoint interval: the resume test kills after iteration 2's
BIN = Path(sys.executable).parent


def _config(tiny_model, path, *, accumulation, max_iters, hold_at=None):
    cfg = data_parallel_config(tiny_model, path, accumulation=accumulation,
                               max_iters=max_iters)
    cfg.default_hooks.checkpoint.interval = EVERY * accumulation
    # XTuner's sample answers: token by token, and under ZeRO-3 every token gathers
    # all parameters (70 s a round on two CPU cores); they test nothing here.
    cfg.custom_hooks = [h for h in cfg.custom_hooks if "EvaluateChat" not in str(h["type"])]
    if hold_at is not None:
        cfg.custom_hooks.append(dict(type="ds_hold.HoldForKill", at=hold_at))
    cfg.dump(str(path))
    return path


def _env(**launch):
    """The environment of a cluster user's shell: this interpreter's bin first on
    PATH (XTuner's CLI runs `torchrun` and `python` from PATH), XTuner's launch
    variables, and tests/ on PYTHONPATH for the resume test's hook."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                                        os.environ.get("PYTHONPATH")])))
    env.update({k: str(v) for k, v in launch.items()})
    return env


def _xtuner_train(config, work, deepspeed, **launch):
    return [str(BIN / "xtuner"), "train", str(config), "--work-dir", str(work),
            "--deepspeed", deepspeed], _env(**launch)


def _finished(proc, work, out):
    # `xtuner train` exits 0 whatever happens: the checkpoint tells
    if not (Path(work) / f"iter_{STEPS}.pth").is_dir():
        pytest.fail(f"xtuner train (exit {proc.returncode}) left no "
                    f"iter_{STEPS}.pth folder in {work}:\n{out[-4000:]}")
    return out


def _run_xtuner(config, work, deepspeed, **launch):
    cmd, env = _xtuner_train(config, work, deepspeed, **launch)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    return _finished(proc, work, proc.stdout + proc.stderr)


@pytest.fixture(scope="module")
def configs(tiny_model, tmp_path_factory):
    import deepspeed  # noqa: F401  (the `deepspeed` extra, which the README installs)

    root = tmp_path_factory.mktemp("ds")
    return {
        "reference": _config(tiny_model, root / "reference.py", accumulation=2,
                             max_iters=2 * STEPS),
        "ds": _config(tiny_model, root / "ds.py", accumulation=1, max_iters=STEPS),
        "hold": _config(tiny_model, root / "hold.py", accumulation=1, max_iters=STEPS,
                        hold_at=EVERY),
        "root": root,
    }


@pytest.fixture(scope="module")
def reference(configs):
    """The config without DeepSpeed: one process, batch 1, two accumulation steps."""
    work = configs["root"] / "reference"
    run_module("xtuner.tools.train", configs["reference"], "--work-dir", work)
    return work


@pytest.fixture(scope="module")
def zero(configs):
    """ZeRO-2 and ZeRO-3, one node, two processes: {stage: (work dir, log)}."""
    runs = {}
    for stage in (2, 3):
        work = configs["root"] / f"zero{stage}"
        runs[stage] = work, _run_xtuner(configs["ds"], work, f"deepspeed_zero{stage}",
                                        NPROC_PER_NODE=2, PORT=free_port())
    return runs


def _losses(work):
    return [v for _, v in read_scalars(work).train["loss"]]


def _master_weights(work, iteration=STEPS):
    """The fp32 master weights of a DeepSpeed checkpoint folder, keyed as the
    DeepSpeed-free checkpoint's state dict."""
    from xtuner.utils.zero_to_any_dtype import get_state_dict_from_zero_checkpoint

    state = get_state_dict_from_zero_checkpoint(str(work), f"iter_{iteration}.pth",
                                                dtype=torch.float32)
    assert state and all("lora_" in k for k in state)
    return state


def _reference_weights(work):
    return torch.load(work / f"iter_{2 * STEPS}.pth", map_location="cpu",
                      weights_only=False)["state_dict"]


def _max_diff(a, b):
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def test_zero2_and_zero3_train_as_the_run_without_deepspeed(reference, zero):
    single = _losses(reference)
    assert len(single) == 2 * STEPS
    for stage, (work, log) in zero.items():
        # XTuner's own JSON on a CPU: fp32 (not its fp16 "auto"), no C++ op compiled
        assert f"Creating torch.float32 ZeRO stage {stage} optimizer" in log
        assert "deepspeed_shm_comm" not in log and "Building extension" not in log
        losses = _losses(work)
        assert len(losses) == STEPS
        # rank 0 takes the even samples of each global batch, as the single run's
        # odd iterations do, under the same weights -- so, with the same LoRA
        # initialisation, its losses are those of iterations 1, 3, 5, ...
        diff = max(abs(a - b) for a, b in zip(losses, single[0::2]))
        weights = _max_diff(_master_weights(work), _reference_weights(reference))
        print(f"ZeRO-{stage} vs no DeepSpeed: loss {diff:.3g}, adapter {weights:.3g}")
        assert diff <= 1e-5  # measured: ZeRO-2 0, ZeRO-3 < 1e-6
        assert weights <= 2e-5  # measured: ZeRO-2 3.4e-8, ZeRO-3 4.5e-6 (of 0.13)


def test_one_process_with_deepspeed_trains_as_without(configs, reference):
    # `xtuner train CONFIG --deepspeed …` on one GPU: plain python, no launcher, no
    # mpi4py (DeepSpeed would look for MPI); the same config, the same LoRA start
    work = configs["root"] / "zero2-one-process"
    log = run_module("xtuner.tools.train", configs["reference"], "--work-dir", work,
                     "--deepspeed", "deepspeed_zero2")
    log = log.stdout + log.stderr
    assert "Creating torch.float32 ZeRO stage 2 optimizer" in log
    losses, expected = _losses(work), _losses(reference)
    diff = max(abs(a - b) for a, b in zip(losses, expected))
    weights = _max_diff(_master_weights(work, 2 * STEPS), _reference_weights(reference))
    print(f"one process, ZeRO-2 vs no DeepSpeed: loss {diff:.3g}, adapter {weights:.3g}")
    assert len(losses) == 2 * STEPS and diff <= 1e-6
    assert weights <= 1e-6


@pytest.mark.parametrize("stage, fp32", [(2, True), (2, False), (3, True)])
def test_pth_to_hf_converts_the_checkpoint_folders_exactly(tiny_model, configs, zero,
                                                           stage, fp32, tmp_path):
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    work, _ = zero[stage]
    out = tmp_path / "hf"
    run_module("xtuner.tools.model_converters.pth_to_hf", configs["ds"],
               work / f"iter_{STEPS}.pth", out, "--safe-serialization",
               *(["--fp32"] if fp32 else []))
    saved = load_file(str(out / "adapter_model.safetensors"))
    assert {v.dtype for v in saved.values()} == {torch.float32 if fp32 else torch.float16}
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model), trust_remote_code=True)
    model = PeftModel.from_pretrained(base, str(out))
    loaded = {f"llm.{name}": p.detach() for name, p in model.named_parameters()
              if "lora_" in name}
    master = _master_weights(work)
    assert loaded.keys() == master.keys()
    # --fp32 keeps the trained fp32 weights (xtuner alone would round them to fp16 on
    # the way); the default saves them rounded to fp16, as it does without DeepSpeed
    expected = master if fp32 else {k: v.half().float() for k, v in master.items()}
    assert all(torch.equal(loaded[k], expected[k]) for k in master)


def test_two_nodes_train_as_one_node_with_two_processes(configs, zero):
    port = free_port()
    procs, works = [], []
    for rank in (0, 1):
        # what docs/training.md tells a cluster user to run on each node
        work = configs["root"] / "two-nodes"
        cmd, env = _xtuner_train(configs["ds"], work, "deepspeed_zero2", NNODES=2,
                                 NODE_RANK=rank, NPROC_PER_NODE=1, ADDR="127.0.0.1",
                                 PORT=port)
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
        works.append(work)
    outs = [p.communicate(timeout=900)[0] for p in procs]
    log = _finished(procs[0], works[0], outs[0] + outs[1])
    assert "GPU number: 2" in log, log[-3000:]  # mmengine's world size: two nodes joined
    one_node, _ = zero[2]
    losses, expected = _losses(works[0]), _losses(one_node)
    diff = max(abs(a - b) for a, b in zip(losses, expected))
    weights = _max_diff(_master_weights(works[0]), _master_weights(one_node))
    print(f"two nodes vs one node (ZeRO-2): loss {diff:.3g}, adapter {weights:.3g}")
    assert len(losses) == STEPS and diff <= 1e-6
    assert weights <= 1e-6


def test_killed_and_resumed_zero2_run_equals_uninterrupted(configs, zero):
    work = configs["root"] / "killed"
    cmd, env = _xtuner_train(configs["hold"], work, "deepspeed_zero2", NPROC_PER_NODE=2,
                             PORT=free_port())
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    held = [work / f"held.rank{rank}" for rank in (0, 1)]
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and \
            not all(p.is_file() and p.read_text().strip() for p in held):
        time.sleep(0.1)
    assert proc.poll() is None, "training ended before it could be killed"
    assert (work / "last_checkpoint").read_text().strip() == str(work / f"iter_{EVERY}.pth")
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and torchrun
    for path in held:  # the workers, each in a session of its own
        os.kill(int(path.read_text()), signal.SIGKILL)
    proc.wait()
    assert not (work / f"iter_{STEPS}.pth").exists()

    cmd, env = _xtuner_train(configs["ds"], work, "deepspeed_zero2", NPROC_PER_NODE=2,
                             PORT=free_port())
    cmd += ["--cfg-options", "resume=True"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    log = _finished(proc, work, proc.stdout + proc.stderr)
    assert f"resumed epoch: 0, iter: {EVERY}" in log, log[-3000:]

    uninterrupted, _ = zero[2]
    weights = _max_diff(_master_weights(work), _master_weights(uninterrupted))
    a, b = _losses(uninterrupted), _losses(work)
    diff = max(abs(x - y) for x, y in zip(a, b))
    print(f"resumed vs uninterrupted (ZeRO-2): loss {diff:.3g}, adapter {weights:.3g}")
    assert [s for s, _ in read_scalars(work).train["loss"]] == list(range(1, STEPS + 1))
    assert diff <= 1e-6 and weights <= 1e-6
