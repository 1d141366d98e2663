"""Peak memory of `legal-eagle data` commands as the input grows.

Generates DISC-Pair-shaped JSONL and LAW-GPT-92k-shaped JSON arrays of the
given sizes (``legal_eagle_xtuner.data.synthetic``), runs each command in its own
process and reads that process's peak RSS from ``wait4``. The anchor is what
loading the file whole costs: ``json.load`` (array) or a list of
``json.loads`` per line (JSONL) in a fresh interpreter — the approach of the
original scripts and of ``datasets``-less tooling.

    python benchmarks/data_memory.py                  # 64, 256 and 1024 MiB
    python benchmarks/data_memory.py --sizes 32 64    # quicker
    python benchmarks/data_memory.py --keep DIR       # keep the generated files

Prints one row per (file, command): size, records, wall seconds, peak RSS.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# This process stays small on purpose: a child's peak RSS as reported by
# wait4() starts from its parent's RSS at fork time, so the package (which
# imports torch and xtuner) is only ever imported in children.
GENERATE = (
    "import sys; from legal_eagle_xtuner.data.synthetic import write_corpus; "
    "n, b = write_corpus(sys.argv[1], sys.argv[2], target_bytes=int(sys.argv[3]), "
    "seed=int(sys.argv[4]), fmt=sys.argv[5]); print(n, b)"
)

NAIVE = {
    "jsonl": "import json,sys; r=[json.loads(l) for l in open(sys.argv[1], encoding='utf-8')]",
    "array": "import json,sys; r=json.load(open(sys.argv[1], encoding='utf-8'))",
}


def measure(argv: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit status) of ``argv`` run as a child."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, proc.returncode


def commands(path: Path, work: Path, bench: list[str]) -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "legal_eagle_xtuner.cli", "data"]
    converted = work / f"{path.stem}.conv.jsonl"
    cmds = {
        "inspect": cli + ["inspect", str(path), "--no-progress"],
        "validate": cli + ["validate", str(path), "--no-progress"],
        "convert --dedupe": cli + ["convert", str(path), "-o", str(converted),
                                   "--skip-invalid", "--dedupe", "--no-progress"],
        "split": cli + ["split", str(converted), "-o", str(work / f"{path.stem}.split"),
                        "--eval-ratio", "0.01", "--no-progress"],
    }
    if bench:
        cmds["decontaminate"] = cli + ["decontaminate", str(converted), "--against", *bench,
                                       "-o", str(work / f"{path.stem}.clean.jsonl"),
                                       "--no-progress"]
    return cmds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024],
                        help="file sizes in MiB (default: 64 256 1024)")
    parser.add_argument("--keep", type=Path, help="generate into DIR and keep the files")
    parser.add_argument("--no-naive", action="store_true", help="skip the whole-file anchor")
    args = parser.parse_args()

    bench_dir = REPO.parent / "shared" / "lawbench" / "data" / "zero_shot"
    bench = sorted(str(p) for p in bench_dir.glob("*.json")) if bench_dir.is_dir() else []
    if not bench:
        print(f"(LawBench data not found at {bench_dir}: decontaminate not measured)")

    work = args.keep or Path(tempfile.mkdtemp(prefix="legal-eagle-mem-"))
    work.mkdir(parents=True, exist_ok=True)
    baseline = measure([sys.executable, "-c", "import legal_eagle_xtuner.cli"])[1]
    print(f"importing the package (torch, xtuner) alone: {baseline:.0f} MiB peak RSS")
    print(f"{'file':<26} {'MiB':>6} {'records':>9}  {'command':<18} {'s':>7} {'peak RSS MiB':>13}")
    try:
        for size in args.sizes:
            for source, fmt in (("disc_pair", "jsonl"), ("lawgpt_92k", "array")):
                path = work / f"{source}-{size}MiB.{'jsonl' if fmt == 'jsonl' else 'json'}"
                made = subprocess.run(
                    [sys.executable, "-c", GENERATE, str(path), source, str(size << 20),
                     str(size), fmt], check=True, capture_output=True, text=True, cwd=REPO)
                records, written = map(int, made.stdout.split())
                rows = list(commands(path, work, bench).items())
                if not args.no_naive:
                    rows.append((f"anchor: whole-file", [sys.executable, "-c", NAIVE[fmt],
                                                         str(path)]))
                for name, argv in rows:
                    seconds, rss, code = measure(argv)
                    flag = "" if code == 0 else f"  (exit {code})"
                    print(f"{path.name:<26} {written / (1 << 20):>6.0f} {records:>9}  "
                          f"{name:<18} {seconds:>7.1f} {rss:>13.0f}{flag}", flush=True)
                for extra in work.glob(f"{path.stem}*"):
                    if not args.keep:
                        shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
