"""A run killed with SIGKILL and resumed ends exactly where an uninterrupted run
ends: same adapter, same iterations, the same loss at every step."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from conftest import run_module
from legal_eagle_xtuner.demo import CONFIG, SAMPLE_FILES
from legal_eagle_xtuner.train.plot import read_scalars

MAX_ITERS = 12
EVERY = 4  # checkpoint and validation interval


@pytest.fixture(scope="module")
def config(tiny_model, tmp_path_factory):
    from legal_eagle_xtuner.train.smoke import SmokeOverrides, derive_smoke_config

    path = derive_smoke_config(
        CONFIG, tmp_path_factory.mktemp("resume") / "cfg.py",
        SmokeOverrides(model_path=str(tiny_model),
                       data_files={k: str(v) for k, v in SAMPLE_FILES.items()},
                       max_iters=MAX_ITERS))
    cfg = Config.fromfile(str(path))
    assert cfg.model.lora.lora_dropout > 0  # so the RNG state matters
    cfg.default_hooks.checkpoint.interval = EVERY
    cfg.default_hooks.checkpoint.max_keep_ckpts = 3
    cfg.train_cfg.val_interval = EVERY
    cfg.dump(str(path))
    return path


def _train(config, work, *extra):
    return [sys.executable, "-m", "xtuner.tools.train", str(config), "--work-dir", str(work),
            *extra]


def _adapter(path):
    state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    assert state and all("lora_" in k for k in state)
    return state


@pytest.fixture(scope="module")
def clean_run(config, tmp_path_factory):
    work = tmp_path_factory.mktemp("clean")
    run_module("xtuner.tools.train", config, "--work-dir", work)
    return work


def test_killed_and_resumed_run_equals_uninterrupted(config, clean_run, tmp_path):
    work = tmp_path / "killed"
    proc = subprocess.Popen(_train(config, work), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    target = work / f"iter_{2 * EVERY}.pth"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        last = work / "last_checkpoint"
        if last.exists() and last.read_text().strip() == str(target):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (work / f"iter_{MAX_ITERS}.pth").exists()

    run_module("xtuner.tools.train", config, "--work-dir", work,
               "--cfg-options", "resume=True")

    clean, resumed = _adapter(clean_run / f"iter_{MAX_ITERS}.pth"), \
        _adapter(work / f"iter_{MAX_ITERS}.pth")
    assert clean.keys() == resumed.keys()
    diff = max((clean[k].float() - resumed[k].float()).abs().max().item() for k in clean)
    print(f"max abs adapter difference after resume: {diff:.3g}")
    assert diff <= 1e-6

    a, b = read_scalars(clean_run), read_scalars(work)
    assert [s for s, _ in b.train["loss"]] == list(range(1, MAX_ITERS + 1))
    assert [v for _, v in b.train["loss"]] == pytest.approx([v for _, v in a.train["loss"]],
                                                           abs=1e-6)
    assert [s for s, _ in b.val["val_loss"]] == [s for s, _ in a.val["val_loss"]] \
        == list(range(EVERY, MAX_ITERS + 1, EVERY))
    assert [v for _, v in b.val["val_loss"]] == pytest.approx(
        [v for _, v in a.val["val_loss"]], abs=1e-6)


@pytest.fixture
def shimmed():
    from legal_eagle_xtuner import compat

    compat.apply_model_shims()
    import mmengine.runner.runner as runner_module

    return runner_module.find_latest_checkpoint


def _checkpoint_bytes():
    import io

    buffer = io.BytesIO()
    torch.save({"meta": {"iter": 4}, "state_dict": {"w": torch.ones(1000)}}, buffer)
    return buffer.getvalue()


def test_resume_skips_a_half_written_checkpoint(shimmed, tmp_path, caplog):
    from legal_eagle_xtuner.train.resume import is_complete_checkpoint

    whole = _checkpoint_bytes()
    (tmp_path / "iter_4.pth").write_bytes(whole)
    (tmp_path / "iter_8.pth").write_bytes(whole[: len(whole) // 2])  # the kill landed here
    assert is_complete_checkpoint(tmp_path / "iter_4.pth")
    assert not is_complete_checkpoint(tmp_path / "iter_8.pth")

    last = tmp_path / "last_checkpoint"
    last.write_text(str(tmp_path / "iter_8.pth"))
    assert shimmed(str(tmp_path)) == str(tmp_path / "iter_4.pth")
    last.write_text("")  # killed while last_checkpoint was rewritten
    assert shimmed(str(tmp_path)) == str(tmp_path / "iter_4.pth")
    last.write_text(str(tmp_path / "iter_4.pth"))
    assert shimmed(str(tmp_path)) == str(tmp_path / "iter_4.pth")
    (tmp_path / "iter_4.pth").unlink()
    last.unlink()
    assert shimmed(str(tmp_path)) is None  # nothing whole: start from scratch


def test_checkpoints_are_written_through_a_temporary_file(shimmed, tmp_path, monkeypatch):
    from mmengine.fileio.backends.local_backend import LocalBackend

    target = tmp_path / "ckpt" / "iter_4.pth"
    LocalBackend().put(_checkpoint_bytes(), target)
    assert target.read_bytes() == _checkpoint_bytes()
    assert sorted(p.name for p in target.parent.iterdir()) == ["iter_4.pth"]

    def killed(src, dst):
        raise KeyboardInterrupt
    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        LocalBackend().put(b"new", tmp_path / "ckpt" / "iter_8.pth")
    assert sorted(p.name for p in target.parent.iterdir()) == ["iter_4.pth"]


def test_loading_weights_without_resume_keeps_a_fresh_runs_randomness():
    from types import SimpleNamespace

    from legal_eagle_xtuner.train.resume import RNG_KEY, ExactResumeHook, _capture

    checkpoint = {"meta": {"iter": 8}, RNG_KEY: _capture()}
    hook = ExactResumeHook()
    hook.after_load_checkpoint(SimpleNamespace(_resume=False), checkpoint)  # load_from
    assert hook._pending is None and hook._resumed_at == 0
    hook.after_load_checkpoint(SimpleNamespace(_resume=True), checkpoint)  # resume
    assert hook._pending is checkpoint[RNG_KEY] and hook._resumed_at == 8
