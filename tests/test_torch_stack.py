"""The two supported stacks (docs/torch_stacks.md) and the shims that the newer one
needs. Every test runs on both: on the pinned stack (torch 2.5.1) the shims must stay
inactive, on the newer one (stacks/torch-2.14.txt) they must be active and fix the
failure they exist for."""

import ast
import importlib.metadata
import re
import subprocess
import sys
import textwrap

import pytest
import torch
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import REPO

STACK_FILE = REPO / "stacks" / "torch-2.14.txt"
# What the newer stack changes against setup.py (the pinned stack) and xtuner's pins.
OVERRIDES = {"torch", "torchvision", "triton", "bitsandbytes"}
NO_DEPS = {"xtuner", "legal-eagle-xtuner"}  # installed with --no-deps
TORCH = Version(torch.__version__).release
WEIGHTS_ONLY_DEFAULT = TORCH >= (2, 6)


def _setup_requirements(name="INSTALL_REQUIRES"):
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name
                                                for t in node.targets):
            return [Requirement(r) for r in ast.literal_eval(node.value)]
    raise AssertionError(f"setup.py has no {name}")


def _test_extra():
    source = (REPO / "setup.py").read_text(encoding="utf-8")
    return [Requirement(r) for r in re.findall(r'"test":\s*\[([^\]]*)\]', source)[0]
            .replace('"', "").split(",") if r.strip()]


def _stack_requirements():
    lines = [line.split(" #")[0].strip() for line in STACK_FILE.read_text().splitlines()]
    return [Requirement(line) for line in lines if line and not line.startswith("#")]


def _by_name(requirements):
    return {canonicalize_name(r.name): r for r in requirements}


def _xtuner_requirements():
    return [Requirement(r) for r in importlib.metadata.requires("xtuner")
            if "extra ==" not in r]


def _installed_stack():
    """'pinned', 'torch-2.14' or None: which stack's pins the installed versions meet."""
    for name, requirements in (("pinned", _setup_requirements()),
                               ("torch-2.14", _stack_requirements())):
        pins = [r for r in requirements if canonicalize_name(r.name) in OVERRIDES
                and (r.marker is None or r.marker.evaluate())]
        if all(r.specifier.contains(importlib.metadata.version(r.name), prereleases=True)
               for r in pins):
            return name
    return None


def _run(code, tmp_path):
    """Run ``code`` in a fresh interpreter (from a file: triton.jit reads the source);
    return its ``print("RESULT", ...)`` lines, without the prefix."""
    script = tmp_path / "probe.py"
    script.write_text(textwrap.dedent(code), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=str(REPO), timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return [line[len("RESULT "):] for line in proc.stdout.splitlines()
            if line.startswith("RESULT ")]


def test_stack_file_changes_only_the_overrides():
    stack = _by_name(_stack_requirements())
    ours = _by_name(_setup_requirements() + _test_extra())
    theirs = _by_name(_xtuner_requirements())
    expected = {**theirs, **ours}  # ours are the stricter ones where both pin
    for name in NO_DEPS:
        expected.pop(name, None)
    assert set(stack) - {"triton"} == set(expected) - {"triton"}, \
        "stacks/torch-2.14.txt must list every requirement of setup.py and xtuner 0.2.0"
    for name, requirement in expected.items():
        if name in OVERRIDES:
            continue
        assert str(stack[name].specifier) == str(requirement.specifier), name
    assert "triton" not in stack  # torch brings the triton it was built with
    assert theirs["bitsandbytes"].specifier.contains("0.45.0")
    assert Version(str(stack["bitsandbytes"].specifier).lstrip("=")) >= Version("0.45.1")


def test_installed_stack_is_a_supported_one():
    stack = _installed_stack()
    assert stack, (f"torch {torch.__version__} with bitsandbytes "
                   f"{importlib.metadata.version('bitsandbytes')}: neither setup.py's pins "
                   "nor stacks/torch-2.14.txt's (see docs/torch_stacks.md)")
    proc = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True,
                          text=True, timeout=300)
    conflicts = [line for line in proc.stdout.splitlines() if " has requirement " in line]
    if stack == "pinned":
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return
    # the newer stack: only the documented overrides of the --no-deps packages
    for line in conflicts:
        package, requirement = re.match(r"(\S+) \S+ has requirement (.+), but you have",
                                        line).groups()
        assert canonicalize_name(package) in NO_DEPS, line
        assert canonicalize_name(Requirement(requirement).name) in OVERRIDES, line
    assert len(conflicts) == len(proc.stdout.splitlines()), proc.stdout


def test_weights_only_probe_matches_torch():
    import os

    from legal_eagle_xtuner import compat

    forced_off = os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "") not in ("", "0")
    assert compat.mmengine._torch_load_defaults_to_weights_only() is (WEIGHTS_ONLY_DEFAULT
                                                           and not forced_off)


def _mmengine_checkpoint(path):
    import numpy as np
    from mmengine.logging import HistoryBuffer

    buffer = HistoryBuffer()
    buffer.update(1.5)
    torch.save({"meta": {"iter": 4, "seed": 0}, "message_hub": {"loss": buffer},
                "rng": np.random.get_state(), "state_dict": {"w": torch.ones(3)}}, path)


def test_mmengine_loads_its_checkpoints_on_either_torch(tmp_path):
    path = tmp_path / "iter_4.pth"
    _mmengine_checkpoint(path)
    # Without the shim: torch >= 2.6 refuses the checkpoint, torch 2.5.1 loads it.
    plain = _run(f"""
        import pickle
        from mmengine.runner.checkpoint import _load_checkpoint
        try:
            print("RESULT", _load_checkpoint({str(path)!r}, map_location="cpu")["meta"]["iter"])
        except pickle.UnpicklingError as e:
            print("RESULT", "refused", "HistoryBuffer" in str(e))
    """, tmp_path)
    assert plain == (["refused True"] if WEIGHTS_ONLY_DEFAULT else ["4"])

    # With the model shims (what a config resolving SupervisedFinetune applies).
    shimmed = _run(f"""
        from legal_eagle_xtuner import compat
        compat.apply_model_shims()
        from mmengine.runner import checkpoint
        loader = checkpoint.CheckpointLoader._schemes[""]
        print("RESULT", getattr(loader, "legal_eagle_shim", False), loader.__name__,
              checkpoint.CheckpointLoader._schemes["http://"].__module__)
        ckpt = checkpoint._load_checkpoint({str(path)!r}, map_location="cpu")
        print("RESULT", ckpt["meta"]["iter"], ckpt["message_hub"]["loss"].current())
    """, tmp_path)
    # active on torch >= 2.6 only; URL loaders stay mmengine's own
    assert shimmed == [f"{WEIGHTS_ONLY_DEFAULT} load_from_local mmengine.runner.checkpoint",
                       "4 1.5"]


def test_xtuner_train_resume_path_needs_the_cfg_options_form(tmp_path):
    # `xtuner train --resume PATH` reads the seed with its own bare torch.load before
    # any shim can run; docs/torch_stacks.md gives `--cfg-options resume=True
    # load_from=PATH` instead. This pins down both halves of that sentence.
    path = tmp_path / "iter_4.pth"
    _mmengine_checkpoint(path)
    out = _run(f"""
        import pickle
        import legal_eagle_xtuner
        legal_eagle_xtuner.SupervisedFinetune
        from xtuner.tools.utils import get_seed_from_checkpoint
        try:
            print("RESULT", get_seed_from_checkpoint({str(path)!r}))
        except pickle.UnpicklingError:
            print("RESULT", "refused")
    """, tmp_path)
    assert out == ["refused" if WEIGHTS_ONLY_DEFAULT else "0"]


def test_bitsandbytes_imports_without_our_package(tmp_path):
    # `xtuner chat --adapter` imports bitsandbytes (through peft's LoRA injection)
    # without ever importing legal_eagle_xtuner, so no shim can help it: the stack
    # itself must have a bitsandbytes that imports beside its triton.
    out = _run("""
        import sys
        import bitsandbytes
        print("RESULT", "ok", "legal_eagle_xtuner" in sys.modules)
    """, tmp_path)
    assert out == ["ok False"]


def test_triton_ops_shim_is_inactive_on_both_stacks(tmp_path):
    from legal_eagle_xtuner import compat

    assert compat.bitsandbytes._bnb_needs_triton_ops() is False
    out = _run("""
        import sys
        import legal_eagle_xtuner
        ops = sys.modules.get("triton.ops")
        print("RESULT", getattr(ops, "legal_eagle_shim", False))
    """, tmp_path)
    assert out == ["False"]


def _triton_has_ops():
    import importlib.util
    import os

    spec = importlib.util.find_spec("triton")
    if spec is None:
        pytest.skip("no triton installed (a CPU-only torch): bitsandbytes never imports it")
    return any(os.path.exists(os.path.join(p, "ops")) for p in spec.submodule_search_locations)


def test_triton_ops_shim_would_fire_for_bitsandbytes_0_45_0(monkeypatch):
    # xtuner 0.2.0's own pin (bitsandbytes 0.45.0) beside this stack's triton.
    from legal_eagle_xtuner import compat

    has_ops = _triton_has_ops()
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: "0.45.0" if name == "bitsandbytes" else real(name))
    assert compat.bitsandbytes._bnb_needs_triton_ops() is (not has_ops)


def test_triton_ops_stand_in_serves_what_bitsandbytes_0_45_0_imports(tmp_path):
    has_ops = _triton_has_ops()
    # bitsandbytes 0.45.0's int8_matmul_*_dequantize.py, after `import triton`:
    out = _run("""
        import sys
        from legal_eagle_xtuner import compat
        print("RESULT", "installed", compat.bitsandbytes._patch_bnb_triton_ops(force=True))
        import triton
        import triton.language as tl
        from triton.ops.matmul_perf_model import early_config_prune, estimate_matmul_time

        @triton.autotune(configs=[triton.Config({"BLOCK_M": 16}, num_stages=1, num_warps=4)],
                         key=["M"], prune_configs_by={"early_config_prune": early_config_prune,
                                                      "perf_model": estimate_matmul_time,
                                                      "top_k": 10})
        @triton.jit
        def kernel(A, M, BLOCK_M: tl.constexpr):
            pass

        stand_in = getattr(sys.modules["triton.ops"], "legal_eagle_shim", False)
        print("RESULT", "stand-in", stand_in)
        if stand_in:
            try:
                early_config_prune([], {})
            except NotImplementedError as e:
                print("RESULT", "raises", "SwitchBackLinear" in str(e))
    """, tmp_path)
    if has_ops:  # the pinned stack's triton 3.1: the real module, never replaced
        assert out == ["installed False", "stand-in False"]
    else:
        assert out == ["installed True", "stand-in True", "raises True"]


def test_qlora_injection_on_cpu():
    # QLoRA's path through peft: LoRA on an NF4-quantized bitsandbytes Linear4bit.
    import bitsandbytes as bnb

    import legal_eagle_xtuner  # noqa: F401  (the shims, as a config would apply them)
    from peft import LoraConfig, get_peft_model

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.q = bnb.nn.Linear4bit(64, 64, bias=False, compute_dtype=torch.float32,
                                       quant_type="nf4")
            self.o = torch.nn.Linear(64, 8)
            self.is_loaded_in_4bit = True  # what transformers sets on a 4-bit model

        def forward(self, x):
            return self.o(self.q(x))

    torch.manual_seed(0)
    model = Tiny()
    weight = torch.randn(64, 64)
    model.q.weight = bnb.nn.Params4bit(weight, requires_grad=False, quant_type="nf4").to("cpu")
    if model.q.weight.dtype != torch.uint8:  # bitsandbytes < 0.47 quantizes on CUDA only
        assert _installed_stack() == "pinned"
        pytest.skip(f"bitsandbytes {bnb.__version__} quantizes to 4 bit on CUDA only")
    assert model.q.weight.bnb_quantized and model.q.weight.quant_state is not None
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q"]))
    layer = peft_model.base_model.model.q
    assert type(layer).__module__ == "peft.tuners.lora.bnb" and type(layer).__name__ == "Linear4bit"
    peft_model(torch.randn(3, 64)).pow(2).sum().backward()
    grads = {n for n, p in peft_model.named_parameters() if p.grad is not None}
    assert grads == {"base_model.model.q.lora_A.default.weight",
                     "base_model.model.q.lora_B.default.weight"}
