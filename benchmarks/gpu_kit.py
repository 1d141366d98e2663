"""The offline kit for the GPU acceptance run: the wheels a GPU machine without network needs.

    python benchmarks/gpu_kit.py build                  # -> .gpu-kit/ (CPython 3.12, x86-64)
    python benchmarks/gpu_kit.py build --no-deepspeed   # without the DeepSpeed part's wheels
    python benchmarks/gpu_kit.py check .gpu-kit         # sizes and sha256 against the manifest

The machine it is made for has Python 3.12 with a newer torch (2.11, CUDA 13), triton,
transformers 5.x, tokenizers 0.23, huggingface_hub 1.x, peft, accelerate, pyarrow,
safetensors, sentencepiece, numpy and the usual scientific stack, but no xtuner,
mmengine, bitsandbytes, datasets or deepspeed, and it reaches no package index. The
kit carries the pinned stack's Python-level packages as wheels (``KIT`` below) to be
installed with ``pip install --no-index --no-deps --target DIR`` and put first on
PYTHONPATH, where they shadow the image's newer transformers, tokenizers and
huggingface_hub; torch and everything in ``IMAGE`` come from the image.

bitsandbytes is repacked: the stock 0.48.2 wheel (about 59 MB) carries a CUDA library
for every CUDA release; the kit keeps the CUDA 13.0 one (``--cuda``) and the CPU one,
plus the licence, and rewrites the wheel's RECORD. deepspeed 0.16.2 has only a source
release on PyPI; it is built here into a pure-Python wheel (no C++ op compiled).

The build fails, naming what is wrong, on a wheel that cannot be had, on a requirement
of a kit wheel that neither the kit nor the image satisfies (the overrides in
``ALLOWED_OVERRIDES`` excepted, each with its reason), and on a kit over ``--budget-mib``.
It writes ``manifest.json``: every wheel with its version, size and sha256, the total
and the target Python.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kit.environment import environment, image_like_base, rehearse  # noqa: E402,F401
from kit.wheels import (ALLOWED_OVERRIDES, DEEPSPEED, DEFAULT_OUT, IMAGE,  # noqa: E402,F401
                        IMAGE_FOR_DEEPSPEED, KIT, build, check, check_requirements,
                        repack_bitsandbytes)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="download, build and repack the wheels; write the manifest")
    b.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT,
                   help="the kit's folder, emptied first (default .gpu-kit/ in the repository)")
    b.add_argument("--python-version", default="3.12",
                   help="the target machine's Python, major.minor (default 3.12)")
    b.add_argument("--cuda", default="130",
                   help="the CUDA release of the bitsandbytes library kept (default 130)")
    b.add_argument("--no-deepspeed", dest="deepspeed", action="store_false",
                   help="leave out deepspeed and its requirements")
    b.add_argument("--budget-mib", type=float, default=40.0,
                   help="fail when the kit is larger (default 40 MiB)")
    c = sub.add_parser("check", help="check a built kit against its manifest")
    c.add_argument("kit", type=Path)
    e = sub.add_parser("env", help="print what this Python imports (run where the kit is "
                       "installed); exit 1 on a problem")
    e.add_argument("--site", type=Path, help="the folder the kit was installed into: "
                   "each kit package must be imported from there")
    e.add_argument("-o", "--output", type=Path, help="also write the report as JSON here")
    r = sub.add_parser("rehearse", help="on CPU: build a kit for this Python and run "
                       "gpu_acceptance.py --shape tiny through it over an image-like base")
    r.add_argument("work", type=Path, help="an empty folder for the kit, base and output")
    r.add_argument("--budget-s", type=float, default=600.0)
    args = parser.parse_args(argv)
    if args.command == "rehearse":
        return rehearse(args.work, args.budget_s)
    if args.command == "env":
        report = environment(args.site)
        for key, value in report.items():
            if key != "problems":
                print(f"{key:>22}: {value}")
        for line in report["problems"]:
            print(f"gpu_kit: {line}")
        if args.output:
            args.output.write_text(json.dumps(report, indent=2) + "\n", "utf-8")
        return 1 if report["problems"] else 0
    if args.command == "check":
        problems = check(args.kit)
        for line in problems:
            print(f"gpu_kit: {args.kit}/{line}")
        print("kit ok" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    manifest = build(args.out, args.python_version, args.cuda, args.deepspeed, args.budget_mib)
    for entry in manifest["wheels"]:
        print(f"{entry['bytes'] / 2**20:8.2f} MiB  {entry['name']} {entry['version']}")
    print(f"kit: {args.out} -- {len(manifest['wheels'])} wheels, {manifest['total_mib']:.1f} MiB "
          f"(budget {args.budget_mib:g} MiB), CPython {args.python_version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
