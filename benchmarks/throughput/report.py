"""How the throughput benchmark prints: number formats and the targets."""

from __future__ import annotations

from .run import MFU_TARGET, PEAK_GB_TARGET


def fmt(x, spec=".3f"):
    return "n/a" if x is None else format(x, spec)


def pct(x):
    return "n/a" if x is None else f"{100 * x:.1f}%"


def count(n: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.3f} {unit}"
    return str(int(n))


def mask_mib(mode: str, batch: int, length: int) -> str:
    """What the isolated path keeps per batch: sdpa a bool mask of batch x L x L;
    flex a block mask of 128 x 128 blocks; flash_varlen only the boundaries."""
    if mode == "iso_sdpa":
        return f"{batch * length * length / 2**20:.1f} MiB (bool)"
    if mode == "iso_flex":
        return f"{batch * (-(-length // 128)) ** 2 * 8 / 2**20:.3f} MiB (block mask)"
    return "none (sample boundaries only)"


def print_targets(results: dict, device: str, device_name: str, shape: str,
                  max_length: int) -> dict:
    """Print each mode's target line; returns mode -> met / missed / n/a."""
    target = {m: "n/a" for m in results}
    if device == "cuda" and shape == "7b":
        note = "" if ("H100" in device_name or "H200" in device_name) else \
            f" (device is {device_name}, not an H100/H200: indicative only)"
        for m, r in results.items():
            target[m] = "met" if r["mfu"] is not None and r["mfu"] >= MFU_TARGET else "missed"
            print(f"target 7B LoRA MFU >= {100 * MFU_TARGET:.0f}% on an H100/H200 [{m}]: "
                  f"{100 * r['mfu']:.1f}% -> target {target[m]}{note}")
    elif device == "cuda" and shape == "20b":
        for m, r in results.items():
            if max_length != 2048:
                print(f"target 20B QLoRA peak <= {PEAK_GB_TARGET:g} GB at 2048 tokens [{m}]: "
                      f"n/a (max_length {max_length})")
                continue
            target[m] = "met" if r["peak_gb"] <= PEAK_GB_TARGET else "missed"
            print(f"target 20B QLoRA peak <= {PEAK_GB_TARGET:g} GB at 2048 tokens [{m}]: "
                  f"{r['peak_gb']:.2f} GB -> target {target[m]}")
    else:
        print("targets: n/a (GPU runs of --shape 7b / 20b only)")
    return target
