"""Training throughput of our LoRA / QLoRA settings: XTuner's stream packing
against our best-fit packing, on one GPU (or a tiny model on CPU).

    python benchmarks/train_throughput.py --shape 7b      # InternLM2-7B, LoRA, fp16 AMP
    python benchmarks/train_throughput.py --shape 20b     # InternLM2-20B, QLoRA 4-bit nf4
    python benchmarks/train_throughput.py --shape tiny    # tiny model, CPU or GPU, seconds

What is measured
  A randomly initialised InternLM2 of the real shape, wrapped by XTuner's own
  SupervisedFinetune with the model / optimizer settings of --config, trains on
  the same synthetic samples packed two ways, side by side: `xtuner` (XTuner's
  stream packing, samples cut at pack borders) and `ours` (--plan-packs, whole
  samples, best fit), both cross-attending (one position range per row, the
  model's own attention); then, for each --isolation path, `iso_<path>`: our packs
  with isolated packing (positions restart per sample, attention within each
  sample: legal_eagle_xtuner.train.attention), the configs' default. --warmup steps (default 10; tiny: 2) then --steps measured
  steps (default 200; tiny: 10) per mode; --max-seconds (default 170) stops a
  mode's measured phase early so that a --shape 7b or 20b run stays within about
  8 minutes. Reported per mode: real tokens/s/GPU (padding never counted), step
  time, TFLOP/s, MFU and HFU (GPU only), peak memory (GPU: max allocated; CPU:
  peak RSS), pack fill, samples split, mean loss. What is built, the data and
  the FLOPs formula: the docstrings of benchmarks/throughput/ (model.py, data.py,
  flops.py, run.py, settings.py).

Targets (printed beside the numbers, GPU only)
  --shape 7b:  MFU >= 40% on an H100 / H200 (LoRA).
  --shape 20b: peak memory <= 30 GB with max_length 2048 (QLoRA).

Output
  A table, the targets, and as the last line one machine-readable line of
  key=value pairs, for example
    shape=7b device=cuda mode=ours tokens_per_s=... step_s=... mfu=0.47 peak_gb=31.2
    split=0 loss=11.2 ... xtuner_tokens_per_s=... xtuner_split=812 ... ratio=1.08
  (one line; `ratio` is ours / xtuner tokens per second, `split` the number of
  samples cut across packs, `target` met / missed / n/a for the ours mode;
  iso_<path>_tokens_per_s=... iso_<path>_ratio=... for each isolated path, the ratio
  against the cross-attending `ours`).
  Target (GPU): isolated packing within 10% of the cross-attending tokens/s.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _path in (REPO, HERE):  # run from a checkout without installing; `import throughput`
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from throughput.data import (  # noqa: E402,F401
    BOS, CORPORA, EOS, FIRST_TOKEN, PAD, REFERENCE_LENGTH, TEMPLATE_TOKENS,
    count_stream_splits, load_planner, make_batches, our_packs, sample_lengths,
    xtuner_packs,
)
from throughput.flops import (  # noqa: E402,F401
    DEFAULT_PEAK_TFLOPS, PEAK_TFLOPS, SHAPES, batch_flops, flops_per_token,
    matmul_params, peak_tflops_for,
)
from throughput.model import (  # noqa: E402,F401
    build_model, build_random_llm, describe, quantize_4bit_, write_model_dir,
)
from throughput.report import count as _count, fmt as _fmt, mask_mib as _mask_mib, pct as _pct, print_targets  # noqa: E402,E501
from throughput.run import MFU_TARGET, PEAK_GB_TARGET, peak_rss_gb, run_mode  # noqa: E402,F401
from throughput.settings import (  # noqa: E402,F401
    CONFIGS, DEFAULT_CONFIG, MIRROR, Settings, load_settings, mirrored_settings,
    settings_from_config,
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="7b",
                        help="model shape (default 7b; tiny runs on CPU in seconds)")
    parser.add_argument("--config", help="XTuner config whose model / optimizer settings "
                        "are used: a path, or a name under configs/ (default: "
                        "internlm2_7b_disc for 7b and tiny, internlm2_20b_qlora_lawgpt for 20b)")
    parser.add_argument("--steps", type=int, help="measured steps per mode "
                        "(default 200; tiny: 10)")
    parser.add_argument("--warmup", type=int, help="warm-up steps per mode, not measured "
                        "(default 10; tiny: 2)")
    parser.add_argument("--max-seconds", type=float, default=170.0,
                        help="stop a mode's measured phase after this many seconds "
                        "(default 170, so a 7b/20b run fits in ~8 minutes; 0: no limit)")
    parser.add_argument("--batch-size", type=int,
                        help="packs per step (default: the config's batch_size, 4)")
    parser.add_argument("--max-length", type=int,
                        help="tokens per pack (default: the config's max_length, 2048; tiny: 128)")
    parser.add_argument("--bf16", action="store_true",
                        help="bf16 weights, 4-bit compute dtype and autocast instead of "
                        "the config's fp16 (no GradScaler); GPU only")
    parser.add_argument("--attn", default="auto",
                        choices=["auto", "eager", "sdpa", "flash_attention_2"],
                        help="attention implementation; auto (default) is XTuner's own "
                        "choice: flash_attention_2 if flash-attn is installed, else the "
                        "model config's eager")
    parser.add_argument("--peak-tflops", type=float,
                        help="peak dense fp16/bf16 TFLOP/s for MFU (default: from the "
                        "GPU's name: H100/H200 989, H100 PCIe 756, A100 312; else 989)")
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto",
                        help="auto (default): cuda if available, else cpu (tiny only)")
    parser.add_argument("--chars-per-token", type=float, default=1.5,
                        help="characters per InternLM2 token, to turn synthetic records "
                        "into token lengths (default 1.5)")
    parser.add_argument("--plan-packs", default="legal_eagle_xtuner.train.packing:plan_packs",
                        metavar="MODULE:FUNCTION",
                        help="our pack planner (default legal_eagle_xtuner.train.packing:plan_packs)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU only: torch threads (default 1; the tiny model is "
                        "latency-bound and more threads only contend on shared cores)")
    parser.add_argument("--modes", choices=["both", "ours"], default="both",
                        help="both (default): XTuner's packing and ours side by side; "
                        "ours: only our packing (e.g. for a peak-memory check)")
    parser.add_argument("--isolation", default="auto",
                        help="isolated packing to measure beside the cross-attending "
                        "packs, comma-separated attention paths: auto (default: flash-attn's "
                        "varlen kernel if installed, else sdpa), sdpa, flex, flash_varlen; "
                        "'none': cross-attending only")
    parser.add_argument("--seed", type=int, default=0, help="seed of lengths, tokens, "
                        "packing and weights (default 0)")
    parser.add_argument("--loss", choices=["config", "chunked", "full"], default="config",
                        help="training loss: the config's loss_impl (default), or chunked / "
                        "full (XTuner's, over full logits)")
    parser.add_argument("--activation-checkpointing", choices=["config", "on", "off"],
                        default="config", help="the config's use_activation_checkpointing "
                        "(default), or on / off")
    parser.add_argument("--memory-cap-gib", type=float, help="GPU only: cap this process's "
                        "GPU memory (torch.cuda.set_per_process_memory_fraction) as if the "
                        "card had this many GiB, e.g. 24 for an RTX 4090")
    args = parser.parse_args(argv)

    tiny = args.shape == "tiny"
    steps = args.steps if args.steps is not None else (10 if tiny else 200)
    warmup = args.warmup if args.warmup is not None else (2 if tiny else 10)
    if steps < 1 or warmup < 0:
        parser.error("--steps must be >= 1 and --warmup >= 0")

    planner = load_planner(args.plan_packs)  # fail before the expensive part
    from legal_eagle_xtuner.train.attention import PATHS, choose_path, isolate_attention

    isolation = [] if args.isolation == "none" else args.isolation.split(",")
    if set(isolation) - set(PATHS):
        parser.error(f"--isolation {args.isolation}: paths are {', '.join(PATHS)} or none")

    import torch

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA GPU available")
    if device == "cpu" and not tiny:
        parser.error(f"--shape {args.shape} needs a CUDA GPU; use --shape tiny on CPU")
    if (args.bf16 or args.memory_cap_gib) and device != "cuda":
        parser.error("--bf16 and --memory-cap-gib are for GPUs")
    if args.attn == "flash_attention_2":
        try:
            import flash_attn  # noqa: F401
        except ImportError:
            parser.error("--attn flash_attention_2: flash-attn is not installed")

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.manual_seed(args.seed)
    if device == "cpu":
        torch.set_num_threads(max(1, args.threads))

    settings = load_settings(args.config or DEFAULT_CONFIG[args.shape])
    if args.batch_size:
        settings.batch_size = args.batch_size
    if args.max_length:
        settings.max_length = args.max_length
    elif tiny:
        settings.max_length = 128
    if settings.quantization is not None and device != "cuda":
        parser.error(f"{settings.config} is 4-bit QLoRA, which needs a CUDA GPU")
    shape = SHAPES[args.shape]
    max_length, batch_size = settings.max_length, settings.batch_size
    n_batches = warmup + steps

    # Data first (cheap), so a broken planner fails before the model is built.
    lengths = sample_lengths(
        settings.corpus, int(n_batches * batch_size * max_length * 1.05) + max_length,
        max_length, system_chars=len(settings.system),
        chars_per_token=args.chars_per_token, seed=args.seed,
        scale=max_length / REFERENCE_LENGTH if tiny else 1.0)
    n_samples = sum(len(v) for v in lengths.values())
    x_packs, x_split = xtuner_packs(lengths, max_length, shape["vocab_size"], args.seed)
    o_packs, o_split = our_packs(lengths, max_length, shape["vocab_size"], args.seed, planner)
    modes = {
        "xtuner": (make_batches(x_packs, batch_size, n_batches), x_split, len(x_packs)),
        "ours": (make_batches(o_packs, batch_size, n_batches), o_split, len(o_packs)),
    }
    if args.modes == "ours":
        del modes["xtuner"]
    for path in isolation:  # isolated packing: same packs, positions restart per sample
        try:
            path = choose_path(path, device)
        except RuntimeError as exc:
            parser.error(f"--isolation: {exc}")
        modes[f"iso_{path}"] = (make_batches(o_packs, batch_size, n_batches, isolated=True),
                                o_split, len(o_packs))
    all_lengths = np.concatenate(list(lengths.values()))
    total_tokens = int(all_lengths.sum())

    from legal_eagle_xtuner.train.precision import amp_dtype as resolve_amp

    amp_name = resolve_amp() if settings.amp_dtype == "auto" else settings.amp_dtype
    amp_dtype = torch.bfloat16 if args.bf16 else getattr(torch, amp_name)
    device_name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    peak_flops = None
    peak_note = ""
    if device == "cuda":
        peak = args.peak_tflops or peak_tflops_for(device_name)
        if peak is None:
            peak = DEFAULT_PEAK_TFLOPS
            peak_note = f" (WARNING: unknown GPU, assumed {peak:g}; set --peak-tflops)"
        peak_flops = peak * 1e12

    print(f"== train throughput: shape={args.shape} config={settings.config} "
          f"({settings.origin}) device={device_name}", flush=True)
    quant = settings.quantization
    print(f"   {'QLoRA 4-bit ' + quant.get('bnb_4bit_quant_type', '') if quant else 'LoRA'} "
          f"r={settings.lora.get('r')} alpha={settings.lora.get('lora_alpha')} "
          f"dropout={settings.lora.get('lora_dropout')}, all linear layers; "
          f"built in {'bfloat16' if args.bf16 else settings.torch_dtype}, "
          f"AMP {str(amp_dtype).replace('torch.', '') if device == 'cuda' else 'off (fp32)'}; "
          f"activation checkpointing {'on' if settings.use_activation_checkpointing else 'off'}; "
          f"varlen attention {'on' if settings.use_varlen_attn else 'off'}")
    print(f"   batch {batch_size} x {max_length} tokens; {warmup} warm-up + {steps} "
          f"measured steps per mode (cap {args.max_seconds:g} s); lr {settings.lr:g}, "
          f"max_norm {settings.max_norm:g}", flush=True)
    print(f"   data: {n_samples} samples ({settings.corpus}), {total_tokens} tokens, "
          f"mean {all_lengths.mean():.0f} / max {all_lengths.max()} tokens; "
          f"xtuner {len(x_packs)} packs, {x_split} samples split; "
          f"ours {len(o_packs)} packs, {o_split} split", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="train-throughput-"))
    # A fixed basename: transformers caches remote code per directory name, so
    # every run reuses one cache entry instead of leaving one behind.
    model_dir = tmp / "train-throughput-internlm2"
    model_dir.mkdir()
    try:
        t0 = time.perf_counter()
        overrides = {}
        if args.loss != "config":
            overrides["loss_impl"] = args.loss
        if args.activation_checkpointing != "config":
            overrides["use_activation_checkpointing"] = args.activation_checkpointing == "on"
        model = build_model(settings, write_model_dir(model_dir, shape), device, args.attn,
                            args.bf16, overrides=overrides)
        if device == "cuda":
            torch.cuda.synchronize()
            gc.collect()
            torch.cuda.empty_cache()
        build_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_frozen = matmul_params(shape)
    attn_used = sorted({type(m).__name__ for m in model.modules()
                        if type(m).__name__.startswith("InternLM2")
                        and "Attention" in type(m).__name__})
    built = describe(model)
    config_attn = choose_path(settings.attention_path, device)
    if args.memory_cap_gib:
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, args.memory_cap_gib * 2**30 / total))
        print(f"   GPU memory capped at {args.memory_cap_gib:g} GiB of "
              f"{total / 2**30:.1f} GiB", flush=True)
    flops_args = dict(n_trainable=n_trainable, n_frozen=n_frozen,
                      n_layers=shape["num_hidden_layers"], hidden=shape["hidden_size"])
    print(f"   model built in {build_s:.1f} s as `xtuner train` builds it: "
          f"{_count(n_frozen)} frozen matmul weights ({built['base_dtype']}), "
          f"{_count(n_trainable)} trainable ({built['lora_dtype']}, LoRA on "
          f"{', '.join(built['lora_targets'])}); loss {built['loss_impl']}; activation "
          f"checkpointing {'on' if built['checkpointing'] else 'off'}; attention "
          f"{', '.join(attn_used) or '?'}, isolated packing by {config_attn}; peak {_fmt(peak_flops and peak_flops / 1e12, 'g')} "
          f"TFLOP/s{peak_note}", flush=True)

    results, failed = {}, []
    for mode, (batches, split, n_packs) in modes.items():
        if mode.startswith("iso_"):
            isolate_attention(model, mode[4:])
        t0 = time.perf_counter()
        try:
            r = run_mode(model, batches, warmup=warmup, settings=settings, device=device,
                         amp_dtype=amp_dtype, max_seconds=args.max_seconds,
                         flops_args=flops_args, peak_flops=peak_flops)
        except Exception as exc:  # one path failing (e.g. a kernel) leaves the others
            if not mode.startswith("iso_"):
                raise
            print(f"   {mode}: FAILED: {type(exc).__name__}: {exc}", flush=True)
            failed.append(mode)
            continue
        r["split"] = split
        r["packs"] = n_packs
        slots = r["steps"] * batch_size * max_length
        r["fill"] = r["tokens"] / slots if slots else float("nan")
        results[mode] = r
        print(f"   {mode}: {r['steps']} steps measured in {time.perf_counter() - t0:.1f} s "
              f"(warm-up included)", flush=True)

    mem = "peak GPU GB" if device == "cuda" else "peak RSS GB"
    print()
    print(f"{'mode':<8}{'tokens/s/GPU':>14}{'step s':>10}{'TFLOP/s':>10}{'MFU':>8}"
          f"{'HFU':>8}{mem:>13}{'fill':>8}{'split':>8}{'loss':>9}")
    for mode, r in results.items():
        print(f"{mode:<8}{r['tokens_per_s']:>14.1f}{r['step_s']:>10.4f}{r['tflops']:>10.3f}"
              f"{_pct(r['mfu']):>8}{_pct(r['hfu']):>8}"
              f"{r['peak_gb']:>13.2f}{100 * r['fill']:>7.1f}%{r['split']:>8}{r['loss']:>9.3f}")
    x_rate = results["xtuner"]["tokens_per_s"] if "xtuner" in results else 0.0
    ratio = results["ours"]["tokens_per_s"] / x_rate if x_rate else float("nan")
    if "xtuner" in results:
        print(f"ours / xtuner real tokens per second: {ratio:.3f}")
    for mode in (m for m in results if m.startswith("iso_")):
        print(f"isolated ({mode[4:]}) / cross-attending packs, real tokens per second: "
              f"{results[mode]['tokens_per_s'] / results['ours']['tokens_per_s']:.3f}; its "
              f"mask, batch {batch_size} x {max_length}^2: {_mask_mib(mode, batch_size, max_length)}")
    print("MFU = (6*N_trainable + 4*N_frozen + 12*layers*hidden*s) * real tokens / time / peak; "
          "s = real tokens of the token's pack row (no causal halving); recompute of "
          "activation checkpointing not counted (HFU counts it: +2*N + 4*layers*hidden*s). "
          "fill = real tokens / (steps * batch * max_length).")

    target = print_targets(results, device, device_name, args.shape, max_length)

    def keys(r, prefix=""):
        return [f"{prefix}tokens_per_s={r['tokens_per_s']:.1f}", f"{prefix}step_s={r['step_s']:.4f}",
                f"{prefix}mfu={_fmt(r['mfu'], '.4f')}", f"{prefix}hfu={_fmt(r['hfu'], '.4f')}",
                f"{prefix}peak_gb={r['peak_gb']:.2f}", f"{prefix}split={r['split']}",
                f"{prefix}fill={r['fill']:.4f}", f"{prefix}loss={r['loss']:.4f}",
                f"{prefix}steps={r['steps']}"]

    o = results["ours"]
    line = [f"shape={args.shape}", f"device={device}", f"config={settings.config}",
            f"max_length={max_length}", f"batch={batch_size}", "mode=ours", *keys(o),
            f"target={target['ours']}", f"base_dtype={built['base_dtype']}",
            f"lora_dtype={built['lora_dtype']}", f"loss_impl={built['loss_impl']}",
            f"attn={config_attn}",
            f"checkpointing={'on' if built['checkpointing'] else 'off'}",
            f"memory_cap_gib={args.memory_cap_gib or 'none'}"]
    if "xtuner" in results:
        line += [*keys(results["xtuner"], "xtuner_"), f"xtuner_target={target['xtuner']}",
                 f"ratio={ratio:.4f}"]
    for mode in (m for m in results if m.startswith("iso_")):
        line += [*keys(results[mode], f"{mode}_"),
                 f"{mode}_ratio={results[mode]['tokens_per_s'] / o['tokens_per_s']:.4f}"]
    print(" ".join(line), flush=True)
    ok = all(r["loss_finite"] for r in results.values()) and not failed
    if not ok:
        print("ERROR: non-finite loss", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
