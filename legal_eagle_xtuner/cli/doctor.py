"""``legal-eagle doctor CONFIG``: the known traps of a run, before the GPUs are rented."""

from __future__ import annotations

import json
import os
import sys


def _doctor(args) -> int:
    from legal_eagle_xtuner.train.doctor.check import FAIL
    from legal_eagle_xtuner.train.doctor.report import card_table, diagnose, table

    nproc = args.nproc or int(os.environ.get("NPROC_PER_NODE", "1") or 1)
    try:
        checks, figures = diagnose(args.config, nproc=nproc, deepspeed=args.deepspeed,
                                   work_dir=args.work_dir)
    except (OSError, SyntaxError, KeyError, AttributeError) as exc:
        print(f"legal-eagle doctor: {args.config}: cannot read the config: {exc}",
              file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"checks": [c.as_json() for c in checks], **figures},
                         ensure_ascii=False, indent=2))
    else:
        lines = table(checks)  # the summary line stays the last
        print("\n".join(lines[:-1] + card_table(figures) + lines[-1:]))
    return 1 if any(c.status == FAIL for c in checks) else 0


def add_doctor_parser(sub) -> None:
    p = sub.add_parser(
        "doctor", help="check a config, its data, model and this machine before training",
        description="One line per check, ok / warn / FAIL (with the fix) / n/a: the stack "
        "against the supported ones, the GPU against the torch build, bitsandbytes where "
        "the config quantizes, the attention path of isolated packing, torchrun and "
        "deepspeed where the launch needs them, the model folder or cache (and which generation of "
        "InternLM remote code it holds), the data files "
        "(their first 300 records with `legal-eagle data validate`'s rules), the work dir, "
        "iterations per epoch estimated from the data against the warmup and the save and "
        "eval intervals, and the peak GPU memory per device against each GPU's free memory "
        "(with the batch that fits), then a table of the same estimate for 24, 40, 80 and "
        "141 GB cards: the largest per-device batch that fits each with the accumulation "
        "that keeps the config's tokens per optimizer step. No model weights are loaded. Exit status 1 on a FAIL.")
    p.add_argument("config", help="an XTuner config (configs/internlm2_7b_disc.py)")
    p.add_argument("--nproc", type=int, help="processes per node (default: $NPROC_PER_NODE "
                   "or 1)")
    p.add_argument("--deepspeed", metavar="NAME", help="as given to xtuner train "
                   "(deepspeed_zero2 ...): checks that deepspeed imports")
    p.add_argument("--work-dir", help="default work_dirs/<config name>")
    p.add_argument("--json", action="store_true", help="the checks and figures as JSON")
    p.set_defaults(func=_doctor)
