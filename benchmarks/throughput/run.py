"""The timed training loop of one packing mode, and what it measures.

One step = one micro-batch of batch_size packs: forward, backward, AdamW step
on the trainable (LoRA) parameters, gradients clipped to max_norm. On a GPU,
autocast in the config's AMP dtype ("auto": bf16 on GPUs that support it, else
float16 with a GradScaler), as the configs' AutoAmpOptimWrapper; --bf16 also
switches weights and compute dtype to bf16. On CPU: fp32, no autocast (the
script sets the torch threads, --threads, default one). Gradient accumulation is
left out: it only skips optimizer steps, whose cost for LoRA is negligible. The
first `warmup` steps are not measured; `max_seconds` stops the measured phase
early. Each mode gets its own fresh optimizer.

Metrics
  tokens/s/GPU  real tokens of the measured steps / their wall time (one GPU).
  step time     mean wall time of a measured step (synchronised).
  MFU           model FLOPs of the measured steps / time / peak FLOP/s.
  HFU           the same with the activation-checkpointing recompute counted
                (see throughput.flops).
  peak memory   GPU: torch.cuda.max_memory_allocated, reset at the start of each
                mode (so it holds the weights, that mode's optimizer state and
                activations, but not the build: the 20B model exists in fp16,
                ~40 GB, for a moment before it is quantized, which a real
                from_pretrained never does, so 20b needs that much free to
                start); CPU: the process's peak RSS (getrusage, one number
                for the whole process). GB = 10^9 bytes.
"""

from __future__ import annotations

import contextlib
import gc
import math
import resource
import sys
import time

import numpy as np

from .flops import batch_flops
from .settings import Settings

MFU_TARGET = 0.40  # 7B LoRA on an H100 / H200
PEAK_GB_TARGET = 30.0  # 20B QLoRA at max_length 2048 (39.42 GB measured with 0.2's model)


def peak_rss_gb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1e9 if sys.platform == "darwin" else rss * 1024 / 1e9


def run_mode(model, batches, *, warmup: int, settings: Settings, device: str,
             amp_dtype, max_seconds: float, flops_args: dict, peak_flops: float | None):
    import torch

    cuda = device == "cuda"
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=settings.lr, betas=settings.betas,
                            weight_decay=settings.weight_decay)
    scaler = torch.amp.GradScaler("cuda") if cuda and amp_dtype == torch.float16 else None
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()

    times, losses, tokens, mflops, hflops = [], [], 0, 0.0, 0.0
    measured_start = None
    for i, (data, rows) in enumerate(batches):
        if i == warmup:
            measured_start = time.perf_counter()
        t0 = time.perf_counter()
        data = {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v
                for k, v in data.items()}
        ctx = torch.autocast("cuda", dtype=amp_dtype) if cuda else contextlib.nullcontext()
        with ctx:
            loss = model(data, mode="loss")["loss"]
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, settings.max_norm)
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, settings.max_norm)
            opt.step()
        opt.zero_grad(set_to_none=True)
        value = loss.item()
        if cuda:
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
            losses.append(value)
            tokens += sum(rows)
            mflops += batch_flops(rows, **flops_args)
            hflops += batch_flops(rows, **flops_args, recompute=True)
            if max_seconds and time.perf_counter() - measured_start > max_seconds:
                break
    wall = sum(times)
    peak = torch.cuda.max_memory_allocated() / 1e9 if cuda else peak_rss_gb()
    del opt, scaler, params
    model.zero_grad(set_to_none=True)
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return dict(
        steps=len(times),
        tokens=tokens,
        tokens_per_s=tokens / wall if wall else 0.0,
        step_s=wall / len(times) if times else float("nan"),
        tflops=mflops / wall / 1e12 if wall else 0.0,
        mfu=mflops / wall / peak_flops if wall and peak_flops else None,
        hfu=hflops / wall / peak_flops if wall and peak_flops else None,
        peak_gb=peak,
        loss=float(np.mean(losses)) if losses else float("nan"),
        loss_finite=bool(losses) and all(math.isfinite(x) for x in losses),
    )
