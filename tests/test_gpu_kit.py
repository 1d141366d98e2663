"""The offline kit of the GPU acceptance run (benchmarks/gpu_kit.py): it builds from PyPI
for the GPU image's CPython 3.12 within its size budget, refuses what would fail there,
and -- the rehearsal -- installs the way the GPU side does (benchmarks/gpu_kit_run.sh) over
a Python that has only torch and the image's other packages, and runs
gpu_acceptance.py --shape tiny through it.

What differs from the real image: this Python (3.11, not 3.12), its torch (2.5.1 on CPU,
not 2.11 with CUDA 13) and the image's own packages (this environment's, linked; the
image's transformers 5 / tokenizers 0.23 / huggingface_hub 1.x are replaced here by the
same versions the kit carries). The rehearsal's kit is built for 3.11 from the same pins;
only the interpreter-specific wheels (multiprocess) differ from the 3.12 kit, which
the first test builds and checks. So the rehearsal covers the download, the repack,
the --no-index --no-deps --target install, the PYTHONPATH shadowing, the environment
check and every tiny part; what it cannot cover is CUDA itself."""

import base64
import hashlib
import json
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import gpu_kit  # noqa: E402

def _wheel(path, name, files, requires=()):
    """A minimal wheel: METADATA with Requires-Dist lines, the files, a RECORD."""
    info = f"{name}-1.0.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in {**files, f"{info}/METADATA": meta}.items():
            zf.writestr(member, data)
        zf.writestr(f"{info}/RECORD", "stale\n")
    return path


def test_repack_keeps_one_cuda_library_the_cpu_one_and_the_licence(tmp_path):
    wheel = _wheel(tmp_path / "bitsandbytes-1.0-py3-none-any.whl", "bitsandbytes", {
        "bitsandbytes/__init__.py": "x = 1\n",
        "bitsandbytes/libbitsandbytes_cuda118.so": b"118" * 100,
        "bitsandbytes/libbitsandbytes_cuda130.so": b"130",
        "bitsandbytes/libbitsandbytes_cpu.so": b"cpu",
        "bitsandbytes-1.0.dist-info/licenses/LICENSE": "MIT\n"})
    gpu_kit.repack_bitsandbytes(wheel, "130")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        record = zf.read("bitsandbytes-1.0.dist-info/RECORD").decode()
        kept = zf.read("bitsandbytes/libbitsandbytes_cuda130.so")
    assert "bitsandbytes/libbitsandbytes_cuda118.so" not in names
    assert {"bitsandbytes/libbitsandbytes_cuda130.so", "bitsandbytes/libbitsandbytes_cpu.so",
            "bitsandbytes-1.0.dist-info/licenses/LICENSE"} <= names
    digest = base64.urlsafe_b64encode(hashlib.sha256(kept).digest()).rstrip(b"=").decode()
    assert f"bitsandbytes/libbitsandbytes_cuda130.so,sha256={digest},3" in record
    assert "cuda118" not in record and "stale" not in record

    with pytest.raises(SystemExit, match="has no libbitsandbytes_cuda126.so"):
        gpu_kit.repack_bitsandbytes(wheel, "126")


def test_requirements_the_kit_and_the_image_do_not_meet_are_named(tmp_path):
    wheels = [
        _wheel(tmp_path / "a-1.0-py3-none-any.whl", "a", {},
               ["b>=2", "nowhere>=1", "torch>=2.0", "pyarrow<10", 'win32only; sys_platform == "win32"',
                'extra-only; extra == "docs"']),
        _wheel(tmp_path / "b-1.0-py3-none-any.whl", "b", {}),
    ]
    problems = gpu_kit.check_requirements(wheels, "3.12")
    assert problems == [
        "a requires b>=2, the kit has b 1.0",
        "a requires nowhere>=1: neither in the kit nor in the image",
        "a requires pyarrow<10; the image is assumed >=21.0.0",
    ]


@pytest.mark.slow
def test_the_kit_builds_for_the_gpu_image_within_its_budget(tmp_path):
    kit = tmp_path / "kit"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_kit.py"), "build",
                           "-o", str(kit)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    manifest = json.loads((kit / "manifest.json").read_text("utf-8"))
    assert manifest["python"] == "3.12" and manifest["bitsandbytes_cuda"] == "130"
    pins = {**gpu_kit.KIT, **gpu_kit.DEEPSPEED}
    assert {e["name"]: e["version"] for e in manifest["wheels"]} == pins
    assert manifest["total_bytes"] == sum(e["bytes"] for e in manifest["wheels"])
    assert manifest["total_mib"] <= 40.0
    last = proc.stdout.strip().splitlines()[-1]
    assert last == (f"kit: {kit} -- {len(pins)} wheels, {manifest['total_mib']:.1f} MiB "
                    "(budget 40 MiB), CPython 3.12")
    files = {e["name"]: e["file"] for e in manifest["wheels"]}
    assert files["multiprocess"].startswith("multiprocess-0.70.18-py312")
    assert "cp312" in files["pydantic-core"]
    assert files["deepspeed"] == "deepspeed-0.16.2-py3-none-any.whl"  # built, no op
    with zipfile.ZipFile(kit / files["bitsandbytes"]) as zf:
        libs = sorted(n.rsplit("/", 1)[-1] for n in zf.namelist() if n.endswith(".so"))
        assert any("LICENSE" in n for n in zf.namelist())
    assert libs == ["libbitsandbytes_cpu.so", "libbitsandbytes_cuda130.so"]

    assert gpu_kit.check(kit) == []
    (kit / files["addict"]).write_bytes(b"changed")
    (kit / "extra-1.0-py3-none-any.whl").write_bytes(b"")
    assert gpu_kit.check(kit) == [f"{files['addict']}: sha256 differs from the manifest",
                                  "extra-1.0-py3-none-any.whl: not in the manifest"]

    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_kit.py"), "build",
                           "-o", str(tmp_path / "small"), "--no-deepspeed", "--budget-mib", "5"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("gpu_kit: the kit is ")
    assert proc.stderr.strip().endswith("MiB, over the budget of 5 MiB")


@pytest.mark.slow
def test_rehearsal_installs_the_kit_like_the_gpu_side_and_passes_the_tiny_run(tmp_path):
    work = tmp_path / "rehearsal"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_kit.py"), "rehearse",
                           str(work), "--budget-s", "900"], capture_output=True, text=True,
                          timeout=1500)
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-3000:]
    assert out.strip().splitlines()[-1] == "PASS 5 / FAIL 0"

    env = json.loads((work / "out" / "env.json").read_text("utf-8"))
    assert env["problems"] == []
    assert env["python"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
    for name in ("transformers", "xtuner", "mmengine", "datasets", "peft", "bitsandbytes"):
        expected = gpu_kit.KIT[name.replace("_", "-")]
        assert env[name] == expected, (name, env[name])  # a path after it: not from the kit
    assert env["deepspeed"].startswith("not importable")  # the rehearsal's kit leaves it out
    # The base has no xtuner of its own: the kit's is the only one.
    base = subprocess.run([str(work / "base" / "venv" / "bin" / "python"), "-c",
                           "import importlib.util as u; print(u.find_spec('xtuner'), "
                           "u.find_spec('torch') is not None)"],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert base.stdout.split() == ["None", "True"], base.stdout + base.stderr

    report = json.loads((work / "out" / "gpu_acceptance.json").read_text("utf-8"))
    assert report["failed"] == 0 and report["passed"] == 5  # isolated packing: one more
    parts = report["parts"]
    assert parts["resume"]["figures"]["adapter_max_abs_diff"] == 0.0
    assert parts["throughput"]["figures"]["split"] == 0
    assert parts["generate"]["figures"]["answers"] == 7
    assert "CUDA" in parts["qlora_20b"]["skipped"]
    assert parts["deepspeed"]["skipped"].startswith("deepspeed is not installed")
    log = (work / "out" / "gpu_acceptance.log").read_text("utf-8")
    assert log.strip().splitlines()[-1] == "PASS 5 / FAIL 0"
