"""The machine: the stack against the supported ones, the GPU against the torch build,
bitsandbytes' CUDA library, the attention path packing will use, and what the launch
needs (torchrun, deepspeed)."""

from __future__ import annotations

import importlib
import importlib.metadata
import shutil

from legal_eagle_xtuner.train.doctor.check import FAIL, NA, OK, WARN, Check

STACKS = {
    "pinned (setup.py)": {"torch": "2.5.1", "transformers": "4.48.0", "xtuner": "0.2.0",
                          "mmengine": "0.10.6", "peft": "0.14.0", "bitsandbytes": "0.45.0"},
    "newer (stacks/torch-2.14.txt)": {"torch": "2.14.1", "transformers": "4.48.0",
                                      "xtuner": "0.2.0", "mmengine": "0.10.6",
                                      "peft": "0.14.0", "bitsandbytes": "0.48.2"},
}
"""The two supported stacks (tests/test_doctor.py holds them to setup.py and stacks/)."""


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_stack() -> Check:
    have = {name: _version(name) for name in STACKS["pinned (setup.py)"]}
    have = {k: (v.split("+")[0] if v else v) for k, v in have.items()}
    for label, pins in STACKS.items():
        if have == pins:
            return Check("stack", OK, f"{label}: " + ", ".join(f"{k} {v}" for k, v in pins.items()))
    pinned = STACKS["pinned (setup.py)"]
    off = [f"{k} {have[k] or 'missing'} (pinned {v})" for k, v in pinned.items() if have[k] != v]
    newer = STACKS["newer (stacks/torch-2.14.txt)"]
    close = sum(have[k] == v for k, v in newer.items()) > sum(have[k] == v for k, v in
                                                              pinned.items())
    fix = ("pip install -r stacks/torch-2.14.txt && pip install --no-deps -e . xtuner==0.2.0"
           if close else 'pip install -e ".[test]" in a fresh virtualenv')
    status = FAIL if not have["xtuner"] or not have["torch"] else WARN
    return Check("stack", status, "not a supported stack: " + "; ".join(off), fix)


def arch_supported(capability: tuple[int, int], arch_list: list[str]) -> bool:
    """Whether a torch build with ``arch_list`` (``sm_80``, ``compute_90`` ...) runs on a
    GPU of ``capability``: its exact ``sm_`` or, as PTX the driver compiles, a
    ``compute_`` of the same major version not above it."""
    major, minor = capability
    if f"sm_{major}{minor}" in arch_list:
        return True
    for arch in arch_list:
        if arch.startswith("compute_"):
            value = int(arch.split("_")[1].rstrip("a"))
            if value // 10 == major and value % 10 <= minor:
                return True
    return False


def check_gpus() -> tuple[Check, list[tuple[str, int, int]]]:
    """The GPU check, and (name, free bytes, total bytes) of every visible GPU."""
    import torch

    if not torch.cuda.is_available():
        return Check("gpu", NA, "n/a: no GPU (training needs one; the checks below that "
                     "need one say n/a)"), []
    archs = torch.cuda.get_arch_list()
    gpus, bad = [], []
    for i in range(torch.cuda.device_count()):
        cap = torch.cuda.get_device_capability(i)
        free, total = torch.cuda.mem_get_info(i)
        gpus.append((torch.cuda.get_device_name(i), free, total))
        if not arch_supported(cap, archs):
            bad.append(f"{torch.cuda.get_device_name(i)} (sm_{cap[0]}{cap[1]})")
    if bad:
        return Check("gpu", FAIL, f"torch {torch.__version__} has no kernels for "
                     f"{', '.join(bad)} (it has {', '.join(archs)})",
                     "install the newer stack: docs/torch_stacks.md"), gpus
    return Check("gpu", OK, f"{len(gpus)} x {gpus[0][0]}; torch {torch.__version__} "
                 f"builds for it"), gpus


def check_bitsandbytes(quantized: bool) -> Check:
    if not quantized:
        return Check("bitsandbytes", OK, "the config does not quantize")
    import torch

    try:
        import bitsandbytes as bnb  # noqa: F401
    except Exception as exc:  # noqa: BLE001 -- e.g. triton.ops, a missing library
        return Check("bitsandbytes", FAIL, f"import fails: {type(exc).__name__}: {exc}",
                     "use the supported stack (legal-eagle doctor's stack line)")
    if not torch.cuda.is_available():
        return Check("bitsandbytes", NA, "n/a: no GPU (QLoRA's 4-bit base needs CUDA)")
    try:
        from bitsandbytes.functional import dequantize_4bit, quantize_4bit

        x = torch.randn(64, 64, device="cuda", dtype=torch.float16)
        q, state = quantize_4bit(x, quant_type="nf4")
        error = (dequantize_4bit(q, state) - x).abs().mean().item()
    except Exception as exc:  # noqa: BLE001
        return Check("bitsandbytes", FAIL, f"a 4-bit op fails on the GPU: {exc}",
                     "install a bitsandbytes built for this CUDA (docs/torch_stacks.md)")
    return Check("bitsandbytes", OK, f"NF4 round trip on the GPU, mean error {error:.3f}")


def check_attention(isolate: bool, path: str, varlen: bool) -> Check:
    import torch

    from legal_eagle_xtuner.train.attention import choose_path

    if varlen:
        from legal_eagle_xtuner.train.kernels import _flash_attn_available

        how = "flash-attn's varlen kernel" if _flash_attn_available() else \
            "sdpa with a block-diagonal mask (flash-attn is not installed)"
        return Check("attention", OK, f"use_varlen_attn: packed samples isolated by {how}")
    if not isolate:
        return Check("attention", WARN, "isolate_packed_samples = False: packed samples "
                     "attend to each other", "isolate_packed_samples = True (PART 1)")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        chosen = choose_path(path, device)
    except (RuntimeError, ValueError) as exc:
        return Check("attention", FAIL, str(exc), 'attention_path = "auto" (PART 1)')
    return Check("attention", OK, f"isolated packing, attention path {chosen!r} on {device}")


def check_launch(nproc: int, deepspeed: str | None) -> list[Check]:
    checks = []
    if nproc > 1:
        torchrun = shutil.which("torchrun")
        checks.append(Check("torchrun", OK, torchrun) if torchrun else Check(
            "torchrun", FAIL, f"{nproc} processes need torchrun, and it is not on PATH (xtuner "
            "train would print a command error and exit 0)",
            "activate the virtualenv first: . .venv/bin/activate"))
    else:
        checks.append(Check("torchrun", OK, "one process: not needed"))
    if deepspeed:
        try:
            module = importlib.import_module("deepspeed")
            checks.append(Check("deepspeed", OK, f"deepspeed {module.__version__}"))
        except Exception as exc:  # noqa: BLE001
            checks.append(Check("deepspeed", FAIL, f"--deepspeed {deepspeed}, but deepspeed "
                                f"does not import ({type(exc).__name__}: {exc})",
                                'pip install -e ".[deepspeed]"'))
    return checks
