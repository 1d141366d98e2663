"""Memory of one loss forward + backward at InternLM2's real vocabulary: our chunked
loss (legal_eagle_xtuner.train.loss, the configs' default) beside the full loss that
XTuner's SupervisedFinetune computes (the model's own forward(labels=...): logits of
every token, cast to fp32, cross-entropy over the shifted labels).

    python benchmarks/loss_memory.py                       # 2048 tokens, hidden 1024, CPU
    python benchmarks/loss_memory.py --tokens 8192 --hidden 4096 --device cuda

What is measured
  Each loss runs in a fresh process of its own: random last hidden states (batch 1 x
  --tokens x --hidden, requires grad, as the decoder hands them over), a frozen output
  head (--vocab x --hidden, as the configs leave it: LoRA is not on the head) and
  labels on every token but a prompt of --prompt tokens; one forward and one backward.
  Reported: the process's peak memory (CPU: peak RSS; GPU: max allocated) and its
  growth over what the inputs alone take (the loss's own memory), the largest tensor
  any op created, the loss value, and the wall time. The logits' size does not depend
  on --hidden (the head's does), so the default hidden keeps the CPU run short.

Output: a table, and as the last line
  tokens=... vocab=... device=... chunked_peak_gb=... full_peak_gb=...
  chunked_growth_gb=... full_growth_gb=... growth_ratio=... loss_equal=True
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _peak_gb(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def measure(impl: str, tokens: int, hidden: int, vocab: int, prompt: int, device: str) -> dict:
    """One loss forward + backward in this process (call it in a fresh one)."""
    import torch
    import torch.nn.functional as F
    from torch.utils._python_dispatch import TorchDispatchMode

    from legal_eagle_xtuner.train.loss import chunked_cross_entropy

    class Largest(TorchDispatchMode):
        largest = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in (out if isinstance(out, (tuple, list)) else (out,)):
                if isinstance(t, torch.Tensor):
                    Largest.largest = max(Largest.largest, t.numel())
            return out

    torch.manual_seed(0)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    head = torch.nn.Linear(hidden, vocab, bias=False, device=device, dtype=dtype)
    head.weight.requires_grad_(False)
    states = torch.randn(1, tokens, hidden, device=device, dtype=dtype, requires_grad=True)
    labels = torch.randint(0, vocab, (1, tokens), device=device)
    labels[:, :prompt] = -100
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    before = _peak_gb(device)
    start = time.perf_counter()
    with Largest():
        if impl == "chunked":
            loss = chunked_cross_entropy(states, head, labels)
        else:
            logits = head(states).float()
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), labels[:, 1:].reshape(-1))
        loss.backward()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = _peak_gb(device)
    return dict(impl=impl, peak_gb=peak, growth_gb=peak - before, largest=Largest.largest,
                loss=float(loss), seconds=seconds)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=2048, help="tokens (default 2048)")
    parser.add_argument("--hidden", type=int, default=1024, help="hidden size (default 1024; "
                        "InternLM2-7B's is 4096)")
    parser.add_argument("--vocab", type=int, default=92544, help="vocabulary (default "
                        "92544, InternLM2's)")
    parser.add_argument("--prompt", type=int, default=256,
                        help="leading tokens without a label (default 256)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--one", choices=["chunked", "full"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # the child: one measurement, as JSON
        print(json.dumps(measure(args.one, args.tokens, args.hidden, args.vocab, args.prompt,
                                 args.device)))
        return 0
    results = {}
    for impl in ("chunked", "full"):
        proc = subprocess.run(
            [sys.executable, __file__, "--one", impl, "--tokens", str(args.tokens),
             "--hidden", str(args.hidden), "--vocab", str(args.vocab),
             "--prompt", str(args.prompt), "--device", args.device],
            capture_output=True, text=True, cwd=REPO)
        if proc.returncode != 0:
            print(proc.stdout + proc.stderr, file=sys.stderr)
            return 1
        results[impl] = json.loads(proc.stdout.strip().splitlines()[-1])
    mem = "peak GPU GB" if args.device == "cuda" else "peak RSS GB"
    print(f"== one loss forward + backward: {args.tokens} tokens ({args.prompt} without a "
          f"label), hidden {args.hidden}, vocabulary {args.vocab}, {args.device}")
    print(f"{'loss':<10}{mem:>13}{'growth GB':>11}{'largest tensor':>16}{'loss':>10}{'s':>8}")
    for impl, r in results.items():
        print(f"{impl:<10}{r['peak_gb']:>13.3f}{r['growth_gb']:>11.3f}{r['largest']:>16,}"
              f"{r['loss']:>10.4f}{r['seconds']:>8.2f}")
    chunked, full = results["chunked"], results["full"]
    ratio = chunked["growth_gb"] / full["growth_gb"] if full["growth_gb"] > 0 else float("nan")
    equal = abs(chunked["loss"] - full["loss"]) <= 1e-4 * abs(full["loss"])
    print(f"chunked / full, the loss's own memory: {ratio:.3f}; tokens x vocabulary = "
          f"{args.tokens * args.vocab:,} elements")
    print(f"tokens={args.tokens} vocab={args.vocab} hidden={args.hidden} device={args.device} "
          f"chunked_peak_gb={chunked['peak_gb']:.3f} full_peak_gb={full['peak_gb']:.3f} "
          f"chunked_growth_gb={chunked['growth_gb']:.3f} full_growth_gb={full['growth_gb']:.3f} "
          f"growth_ratio={ratio:.4f} chunked_largest={chunked['largest']} "
          f"full_largest={full['largest']} loss_equal={equal}")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
