"""Where the kit is installed: the report of what Python actually imports, and the CPU
rehearsal (an image-like base, the kit installed and run as the GPU side does)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .wheels import IMAGE, IMAGE_FOR_DEEPSPEED, KIT, _normal, build


def _installed_closure(names) -> dict:
    """The installed distributions of ``names`` and everything they require, here."""
    import importlib.metadata

    from packaging.requirements import Requirement

    found, todo = {}, [n for alts in names for n in alts.split("|")]
    while todo:
        name = _normal(todo.pop())
        if name in found:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found[name] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return found


def image_like_base(base: Path) -> Path:
    """A virtualenv that stands for the GPU image: this Python, and only the
    distributions of ``IMAGE`` (torch first) and their requirements, linked from this
    environment into one folder on its path -- no xtuner, mmengine, datasets, ...
    unless something of the image requires them."""
    import sysconfig

    subprocess.run([sys.executable, "-m", "venv", "--clear", str(base / "venv")], check=True)
    # Outside the venv, and named site-packages as on the image: mmengine takes a module
    # under the interpreter's prefix and outside any site-packages for the standard
    # library, and would then not import a config's ``from torch.optim import AdamW`` lazily.
    links = base / "image" / "site-packages"
    links.mkdir(parents=True)
    closure = _installed_closure(IMAGE)
    for name in set(KIT) - {"tokenizers", "huggingface-hub", "transformers", "peft"}:
        closure.pop(name, None)  # what the image lacks stays out, even if installed here
    for dist in closure.values():
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            source = Path(dist.locate_file(top))
            if source.exists() and not (links / top).exists():
                (links / top).symlink_to(source)
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(base / "venv")}))
    (purelib / "image-packages.pth").write_text(str(links) + "\n", "utf-8")
    return base / "venv" / "bin" / "python"


def rehearse(work: Path, budget_s: float) -> int:
    """Build a kit for this Python, install and run it the way the GPU side does,
    over an image-like base, with gpu_acceptance.py --shape tiny."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    kit = work / "kit"
    build(kit, version, "130", deepspeed=False, budget_mib=40.0)
    python = image_like_base(work / "base")
    env = dict(os.environ, PYTHON=str(python))
    env.pop("PYTHONPATH", None)
    script = Path(__file__).resolve().parent.parent / "gpu_kit_run.sh"
    return subprocess.run(["bash", str(script), str(kit), str(work / "out"), f"{budget_s:g}",
                           "--", "--shape", "tiny"], env=env).returncode


REPORTED = ("transformers", "tokenizers", "huggingface_hub", "xtuner", "mmengine", "peft",
            "datasets", "bitsandbytes", "deepspeed")


def environment(site: Path | None) -> dict:
    """What this Python actually imports: torch and its GPU, each kit package (from the kit's
    folder or not), bitsandbytes' native library, and the image's packages against ``IMAGE``."""
    import importlib
    import importlib.metadata

    from packaging.specifiers import SpecifierSet

    import torch

    report = {"python": sys.version.split()[0], "torch": torch.__version__,
              "torch_cuda": torch.version.cuda, "gpu": None, "problems": []}
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability()
        report["gpu"] = f"{torch.cuda.get_device_name()} (sm_{major}{minor})"
    for name in REPORTED:
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # a kit package that does not import is a problem
            report[name] = f"not importable: {type(exc).__name__}: {exc}"
            if site is not None and (site / name).is_dir():
                report["problems"].append(f"{name} is in the kit but does not import: {exc}")
            continue
        where = Path(module.__file__).resolve()
        from_kit = site is None or str(where).startswith(str(site.resolve()))
        report[name] = getattr(module, "__version__", "?") + ("" if from_kit else f" ({where})")
        if not from_kit:
            report["problems"].append(f"{name} is imported from {where}, not from the kit")
    try:
        from bitsandbytes import cextension
        native = getattr(getattr(cextension, "lib", None), "_lib", None)
        report["bitsandbytes_library"] = Path(getattr(native, "_name", "none")).name
    except Exception as exc:
        report["bitsandbytes_library"] = f"not loaded: {type(exc).__name__}: {exc}"
    carries_deepspeed = site is None or (site / "deepspeed").is_dir()
    needed = dict(IMAGE, **(IMAGE_FOR_DEEPSPEED if carries_deepspeed else {}))
    for names, spec in needed.items():
        version = None
        for name in names.split("|"):
            try:
                version = importlib.metadata.version(name)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
        if version is None:
            report["problems"].append(f"the image lacks {names.replace('|', ' (or ')}"
                                      + (")" if "|" in names else ""))
            continue
        if spec and not SpecifierSet(spec).contains(version, prereleases=True):
            report["problems"].append(f"the image has {name} {version}, the kit needs {spec}")
    return report
