"""One GPU acceptance run: every figure that needs a GPU, in about eight minutes.

    python benchmarks/gpu_acceptance.py                    # one H100/H200, ~8 min
    python benchmarks/gpu_acceptance.py --budget-s 180     # shorter: every part shrinks
    python benchmarks/gpu_acceptance.py --shape tiny       # CPU or GPU, tiny model (tests)

No network: models have random weights of the real shapes (7B / 20B InternLM2)
or are the offline tiny InternLM2 of `legal-eagle demo`.

Parts, each with its share of --budget-s (time a part leaves goes to the ones
after it) and its own time printed:
  throughput   7B LoRA as configs/internlm2_7b_disc.py, bf16, 2048-token packs,
               XTuner's packer vs ours, cross-attending, and ours isolated for each
               --isolation path (benchmarks/train_throughput.py --shape 7b --bf16):
               tokens/s/GPU, MFU, HFU, peak memory.
               Targets: MFU >= 40% on an H100/H200; ours >= XTuner's real tokens/s;
               isolated within 10% of cross-attending tokens/s.
  qlora_20b    20B QLoRA NF4 as configs/internlm2_20b_qlora_lawgpt.py, 2048 tokens,
               the config's per-device batch, our packing only: peak memory and
               tokens/s. Target: peak <= 30 GB. Needs CUDA (skipped on CPU).
  card_24gb    7B LoRA as configs/internlm2_7b_disc.py under a 24 GiB cap
               (train_throughput.py --memory-cap-gib 24), at the per-device batch
               `legal-eagle doctor` plans for an RTX 4090 / 3090, our packs isolated.
               Target: it trains (no out-of-memory), peak below the cap. Needs CUDA.
  resume       the tiny model trained 6 iterations, killed with SIGKILL after the
               checkpoint of iteration 4, resumed; max abs difference of the adapter
               against an uninterrupted run. Target: <= --resume-tolerance.
  deepspeed    one ZeRO-2 training step of the tiny model in one process (xtuner train
               --deepspeed deepspeed_zero2; on CPU too). Skipped with a message when
               deepspeed is not installed.
  generate     `legal-eagle eval generate` with the tiny model on the packaged DISC
               triplets, then `eval score --data` on what it wrote.

Every figure goes to one JSON file (-o, default gpu_acceptance.json); the last
line printed is `PASS n / FAIL m` (skipped parts and targets that do not apply
on this device count in neither). Exit status 0 when nothing failed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
SHARES = {"throughput": 0.18, "card_24gb": 0.14, "qlora_20b": 0.18, "resume": 0.30,
          "deepspeed": 0.12, "generate": 0.08}
"""Share of --budget-s each part may use (its subprocesses are stopped past it);
what a part leaves unused goes to the parts after it, in proportion."""
MFU_TARGET = 0.40
PEAK_GB_TARGET = 30.0
RESUME_ITERS, RESUME_EVERY = 6, 2


class Part:
    """Figures and checks of one part; a check is (name, ok or None for n/a, detail)."""

    def __init__(self, name: str):
        self.name, self.figures, self.checks = name, {}, []
        self.skipped: str | None = None
        self.seconds = 0.0

    def check(self, name: str, ok: bool | None, detail: str) -> None:
        self.checks.append({"check": name, "ok": ok, "detail": detail})

    def as_json(self) -> dict:
        return {"seconds": round(self.seconds, 1), "skipped": self.skipped,
                "figures": self.figures, "checks": self.checks}


def _run(cmd, timeout: float, cwd=None) -> subprocess.CompletedProcess:
    """Run a command in its own session; on timeout kill the whole group."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=cwd, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=max(timeout, 1.0))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        out += f"\n[stopped after {timeout:.0f} s, the part's share of --budget-s]"
        return subprocess.CompletedProcess(cmd, -signal.SIGKILL, out)
    return subprocess.CompletedProcess(cmd, proc.returncode, out)


def _failed(part: Part, what: str, proc: subprocess.CompletedProcess) -> None:
    tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
    part.check(what, False, f"exit {proc.returncode}:\n{tail}")


def _key_values(line: str) -> dict:
    pairs = (item.split("=", 1) for item in line.split() if "=" in item)
    return {k: _number(v) for k, v in pairs}


def _number(text: str):
    try:
        return float(text) if any(c in text for c in ".en") else int(text)
    except ValueError:
        return text


def _throughput_args(seconds: float, shape: str, modes: int = 3) -> list[str]:
    # The model build and the warm-ups take their part first; the measured phases
    # share 70% of what the part may use.
    return ["--max-seconds", f"{max(seconds * 0.7 / modes, 2):.0f}", "--warmup", "2",
            "--steps", "200" if shape != "tiny" else "6"]


def part_throughput(part: Part, args, seconds: float, cuda: bool) -> None:
    shape = "7b" if args.shape == "real" else "tiny"
    paths = [] if args.isolation == "none" else args.isolation.split(",")
    cmd = [sys.executable, str(HERE / "train_throughput.py"), "--shape", shape,
           *_throughput_args(seconds, shape, 2 + len(paths)), "--isolation", args.isolation,
           *(["--bf16"] if cuda else [])]
    proc = _run(cmd, seconds)
    if proc.returncode != 0:
        return _failed(part, "train_throughput runs", proc)
    f = part.figures = _key_values(proc.stdout.strip().splitlines()[-1])
    part.check("loss finite, both packers", True, f"ours {f['loss']}, xtuner {f['xtuner_loss']}")
    part.check("ours splits no sample", f["split"] == 0, f"split={f['split']}")
    if cuda and shape == "7b":
        part.check("ours >= XTuner real tokens/s", f["tokens_per_s"] >= f["xtuner_tokens_per_s"],
                   f"{f['tokens_per_s']} vs {f['xtuner_tokens_per_s']} (ratio {f['ratio']})")
        mfu = f["mfu"] if isinstance(f["mfu"], float) else float("nan")
        part.check(f"MFU >= {MFU_TARGET:.0%} (H100/H200)", mfu >= MFU_TARGET,
                   f"MFU {mfu:.1%}, HFU {f['hfu']}, peak {f['peak_gb']} GB")
    else:
        part.check(f"ours >= XTuner tokens/s, MFU >= {MFU_TARGET:.0%}", None,
                   "n/a: GPU targets of the 7B shape")
    for key in sorted(k for k in f if k.startswith("iso_") and k.endswith("_ratio")):
        path = key[4:-len("_ratio")]
        part.check(f"isolated ({path}) loss finite", math.isfinite(f[f"iso_{path}_loss"]),
                   f"loss {f[f'iso_{path}_loss']} vs cross-attending {f['loss']}")
        detail = (f"{f[f'iso_{path}_tokens_per_s']} vs {f['tokens_per_s']} tokens/s "
                  f"(ratio {f[key]}), MFU {f[f'iso_{path}_mfu']}, "
                  f"peak {f[f'iso_{path}_peak_gb']} GB")
        part.check(f"isolated ({path}) within 10% of cross-attending tokens/s (H100/H200)",
                   f[key] >= 0.9 if cuda and shape == "7b" else None, detail)


def part_card_24gb(part: Part, args, seconds: float, cuda: bool) -> None:
    if not cuda or args.shape != "real":
        part.skipped = "a 24 GiB cap on the 7B shape needs CUDA"
        return
    from legal_eagle_xtuner.train.doctor.memory import card_plans, model_shape

    plan = card_plans(model_shape("internlm/internlm2-chat-7b"), batch=4, accumulation=8,
                      max_length=2048, lora_rank=8, quantized=False)[0]
    if not plan.batch:
        return part.check("doctor plans a batch for 24 GB", False, "the estimate fits none")
    cmd = [sys.executable, str(HERE / "train_throughput.py"), "--shape", "7b", "--modes",
           "ours", "--isolation", "auto", "--memory-cap-gib", "24",
           "--batch-size", str(plan.batch), *_throughput_args(seconds, "7b", 2)]
    proc = _run(cmd, seconds)
    if proc.returncode != 0:
        return _failed(part, f"7B trains under 24 GiB at batch {plan.batch}", proc)
    f = part.figures = _key_values(proc.stdout.strip().splitlines()[-1])
    part.figures["doctor_estimate_gb"] = plan.batch_peak_gb
    part.check(f"7B trains under 24 GiB at batch {plan.batch} x {plan.accumulation}",
               f["peak_gb"] <= 24 * 2**30 / 1e9,
               f"peak {f['peak_gb']} GB (doctor's estimate {plan.batch_peak_gb} GB), "
               f"{f['tokens_per_s']} tokens/s, MFU {f['mfu']}")


def part_qlora(part: Part, args, seconds: float, cuda: bool) -> None:
    if not cuda or args.shape != "real":
        part.skipped = "bitsandbytes 4-bit needs CUDA and the real 20B shape"
        return
    cmd = [sys.executable, str(HERE / "train_throughput.py"), "--shape", "20b",
           "--modes", "ours", *_throughput_args(seconds * 2, "20b")]
    proc = _run(cmd, seconds)
    if proc.returncode != 0:
        return _failed(part, "train_throughput --shape 20b runs", proc)
    f = part.figures = _key_values(proc.stdout.strip().splitlines()[-1])
    part.check(f"peak <= {PEAK_GB_TARGET:g} GB at 2048 tokens", f["peak_gb"] <= PEAK_GB_TARGET,
               f"peak {f['peak_gb']} GB, {f['tokens_per_s']} tokens/s, batch {f['batch']}")


def _tiny_config(work: Path, iters: int, every: int) -> Path:
    from mmengine.config import Config

    from legal_eagle_xtuner.demo import CONFIG, SAMPLE_FILES
    from legal_eagle_xtuner.demo.tiny import build_tiny_internlm2
    from legal_eagle_xtuner.train.smoke import SmokeOverrides, derive_smoke_config

    path = derive_smoke_config(CONFIG, work / f"tiny_{iters}.py", SmokeOverrides(
        model_path=str(build_tiny_internlm2()), max_iters=iters,
        data_files={k: str(v) for k, v in SAMPLE_FILES.items()}))
    cfg = Config.fromfile(str(path))
    cfg.default_hooks.checkpoint.interval = every
    cfg.train_cfg.val_interval = every
    # Sample answers are not what these parts measure, and on a GPU generating them token
    # by token took most of a part's time (measured on an H200).
    cfg.custom_hooks = [h for h in cfg.custom_hooks if "EvaluateChatHook" not in str(h["type"])]
    cfg.dump(str(path))
    return path


def _train_cmd(config: Path, work: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "xtuner.tools.train", str(config), "--work-dir", str(work),
            *extra]


def _adapter(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def part_resume(part: Part, args, seconds: float, work: Path) -> None:
    deadline = time.monotonic() + seconds
    config = _tiny_config(work, RESUME_ITERS, RESUME_EVERY)  # within the part's time
    proc = _run(_train_cmd(config, work / "clean"), deadline - time.monotonic())
    if proc.returncode != 0:
        return _failed(part, "uninterrupted run", proc)
    killed = work / "killed"
    target = killed / f"iter_{RESUME_ITERS - RESUME_EVERY}.pth"
    run = subprocess.Popen(_train_cmd(config, killed), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    last = killed / "last_checkpoint"
    while time.monotonic() < deadline and run.poll() is None:
        if last.exists() and last.read_text().strip() == str(target):
            break
        time.sleep(0.05)
    if run.poll() is not None:
        part.check("killed mid-run", False, "training ended before it could be killed")
        return
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    proc = _run(_train_cmd(config, killed, "--cfg-options", "resume=True"),
                deadline - time.monotonic())
    if proc.returncode != 0:
        return _failed(part, "resumed run", proc)
    final = f"iter_{RESUME_ITERS}.pth"
    clean, resumed = _adapter(work / "clean" / final), _adapter(killed / final)
    diff = max((clean[k].float() - resumed[k].float()).abs().max().item() for k in clean)
    part.figures = {"adapter_max_abs_diff": diff, "iterations": RESUME_ITERS,
                    "killed_after_checkpoint": RESUME_ITERS - RESUME_EVERY}
    part.check(f"adapter difference <= {args.resume_tolerance:g}",
               diff <= args.resume_tolerance, f"max abs difference {diff:.3g}")


def part_deepspeed(part: Part, args, seconds: float, work: Path, cuda: bool) -> None:
    try:
        import deepspeed  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name != "deepspeed":  # installed, but something it imports is missing
            return part.check("deepspeed imports", False, f"{type(exc).__name__}: {exc}")
        part.skipped = "deepspeed is not installed (pip install -e '.[deepspeed]')"
        return
    except Exception as exc:
        return part.check("deepspeed imports", False, f"{type(exc).__name__}: {exc}")
    config = _tiny_config(work, 2, 2)  # on CPU too: fp32, gloo, no C++ op (compat)
    proc = _run(_train_cmd(config, work / "zero2", "--deepspeed", "deepspeed_zero2"), seconds)
    if proc.returncode != 0:
        return _failed(part, "ZeRO-2 step", proc)
    saved = sorted(p.name for p in (work / "zero2").glob("iter_*"))
    part.figures = {"checkpoints": saved}
    part.check("ZeRO-2 trains and saves", bool(saved), ", ".join(saved) or "no checkpoint")


def part_generate(part: Part, args, seconds: float, work: Path, cuda: bool) -> None:
    from legal_eagle_xtuner.demo.tiny import build_tiny_internlm2
    from legal_eagle_xtuner.resources import SAMPLES

    out = work / "preds"
    cli = [sys.executable, "-m", "legal_eagle_xtuner.cli", "eval"]
    t0 = time.monotonic()
    proc = _run([*cli, "generate", "--model", str(build_tiny_internlm2()),
                 "--data", str(SAMPLES / "disc_triplet.jsonl"), "--prompt-template",
                 "internlm2_chat", "-o", str(out), "--max-new-tokens", "16", "--no-progress"],
                seconds)
    if proc.returncode != 0:
        return _failed(part, "eval generate", proc)
    generate_s = time.monotonic() - t0
    answers = json.loads((out / "disc_triplet.json").read_text("utf-8"))
    proc = _run([*cli, "score", "--data", str(out / "disc_triplet.json"), "--json",
                 "--no-progress"], seconds)
    if proc.returncode != 0:
        return _failed(part, "eval score", proc)
    part.figures = {"answers": len(answers), "generate_s": round(generate_s, 1),
                    "device": "cuda" if cuda else "cpu",
                    "score": json.loads(proc.stdout[proc.stdout.index("{"):])}
    part.check("every record answered and scored", len(answers) > 0,
               f"{len(answers)} answers in {generate_s:.1f} s on {part.figures['device']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=["real", "tiny"], default="real",
                        help="real (default): 7B / 20B shapes, needs a GPU; tiny: the "
                        "tiny model for every part, CPU or GPU")
    parser.add_argument("--budget-s", type=float, default=480.0,
                        help="wall time for everything (default 480); each part gets its "
                        "share: " + ", ".join(f"{k} {100 * v:.0f}%%" for k, v in SHARES.items()))
    parser.add_argument("--parts", default=",".join(SHARES),
                        help="comma-separated parts to run (default: all)")
    parser.add_argument("--resume-tolerance", type=float, default=1e-6,
                        help="largest adapter difference after resume that passes "
                        "(default 1e-6)")
    parser.add_argument("--isolation", default="auto",
                        help="isolated-packing attention paths the throughput part measures "
                        "beside cross-attending packs (train_throughput.py --isolation; "
                        "default auto; e.g. sdpa,flex)")
    parser.add_argument("-o", "--output", default="gpu_acceptance.json",
                        help="the JSON with every figure (default gpu_acceptance.json)")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(SHARES))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(SHARES)}")
    if args.budget_s <= 0:
        parser.error("--budget-s must be positive")

    import torch

    cuda = torch.cuda.is_available()
    if args.shape == "real" and not cuda:
        parser.error("--shape real needs a CUDA GPU; use --shape tiny on CPU")
    device = torch.cuda.get_device_name() if cuda else "cpu"
    print(f"== GPU acceptance: shape={args.shape} device={device} budget={args.budget_s:g} s",
          flush=True)
    start = time.monotonic()
    results: dict[str, Part] = {}
    with tempfile.TemporaryDirectory(prefix="gpu-acceptance-") as tmp:
        for number, name in enumerate(parts):
            part = results[name] = Part(name)
            left = args.budget_s - (time.monotonic() - start)
            seconds = left * SHARES[name] / sum(SHARES[p] for p in parts[number:])
            work = Path(tmp) / name
            work.mkdir()
            t0 = time.monotonic()
            try:
                if name == "throughput":
                    part_throughput(part, args, seconds, cuda)
                elif name == "qlora_20b":
                    part_qlora(part, args, seconds, cuda)
                elif name == "card_24gb":
                    part_card_24gb(part, args, seconds, cuda)
                elif name == "resume":
                    part_resume(part, args, seconds, work)
                elif name == "deepspeed":
                    part_deepspeed(part, args, seconds, work, cuda)
                else:
                    part_generate(part, args, seconds, work, cuda)
            except Exception as exc:  # a broken part is a failure, the others still run
                part.check("runs", False, f"{type(exc).__name__}: {exc}")
            part.seconds = time.monotonic() - t0
            _print_part(part)

    checks = [c for p in results.values() for c in p.checks]
    passed = sum(c["ok"] is True for c in checks)
    failed = sum(c["ok"] is False for c in checks)
    report = {"device": device, "shape": args.shape, "budget_s": args.budget_s,
              "wall_s": round(time.monotonic() - start, 1), "passed": passed, "failed": failed,
              "parts": {name: part.as_json() for name, part in results.items()}}
    Path(args.output).write_text(json.dumps(report, indent=2, ensure_ascii=False,
                                            default=_json_value) + "\n", "utf-8")
    skipped = [name for name, part in results.items() if part.skipped]
    print(f"wall {report['wall_s']} s; figures in {args.output}; skipped parts: "
          f"{', '.join(skipped) or 'none'}")
    print(f"PASS {passed} / FAIL {failed}")
    return 1 if failed else 0


def _json_value(value):
    return None if isinstance(value, float) and not math.isfinite(value) else str(value)


def _print_part(part: Part) -> None:
    state = "SKIP" if part.skipped else (
        "FAIL" if any(c["ok"] is False for c in part.checks) else "PASS")
    print(f"[{part.name}] {state} in {part.seconds:.1f} s"
          + (f": {part.skipped}" if part.skipped else ""), flush=True)
    for c in part.checks:
        mark = {True: "ok  ", False: "FAIL", None: "n/a "}[c["ok"]]
        print(f"    {mark} {c['check']}: {c['detail']}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
