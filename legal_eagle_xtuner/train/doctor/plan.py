"""How long the run is, estimated from the data: records per file (counted, or for a
large file extrapolated from its first records' bytes), tokens per record (the config's
tokenizer and template on the first records; 1.5 characters a token without the
tokenizer), packs at the best-fit utilisation; then iterations per epoch and in all,
held against the warmup and the save and evaluation intervals."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from legal_eagle_xtuner.train.doctor.check import FAIL, OK, WARN, Check

SAMPLE = 300
COUNT_WHOLE_BELOW = 64 * 2**20
"""Files smaller than this are counted record by record; larger ones extrapolated."""
UTILISATION = 0.985
"""Best-fit packs' fill, measured (docs/benchmarks.md, data_pipeline)."""
CHARS_PER_TOKEN = 1.5


@dataclass
class RunPlan:
    records: int
    tokens_per_record: float
    packs: int
    iters_per_epoch: int
    total_iters: int
    how: str
    """How the tokens were counted."""


def _records_and_lengths(path: str, holdout: int, tokenizer, template, max_length: int,
                         system: str | None):
    from legal_eagle_xtuner.data.corpus import iter_checked

    size = Path(path).stat().st_size
    seen, sample, read_bytes = 0, [], 0
    for item in iter_checked([path], system=system):
        seen += 1
        if item.ok and len(sample) < SAMPLE:
            sample.append(item.output)
        if size > COUNT_WHOLE_BELOW and seen >= SAMPLE:
            break
    if size > COUNT_WHOLE_BELOW:  # extrapolate from the sample's share of the file
        import json

        read_bytes = sum(len(json.dumps(r, ensure_ascii=False).encode()) for r in sample)
        seen = int(size / max(read_bytes / max(len(sample), 1), 1))
    if tokenizer is not None and sample:
        from legal_eagle_xtuner.train.tokenize import batch_encoder

        encoded = batch_encoder(tokenizer, template, max_length)(
            {"conversation": [r["conversation"] for r in sample]})
        lengths = [len(ids) for ids in encoded["input_ids"]]
    else:
        lengths = [min(max_length, math.ceil(sum(len(t.get("input", "")) + len(t.get("output", ""))
                                                  + len(t.get("system", "") or "")
                                                  for t in r["conversation"]) / CHARS_PER_TOKEN))
                   for r in sample]
    mean = sum(lengths) / len(lengths) if lengths else 0.0
    return max(seen - (holdout or 0), 0), mean


def estimate(paths: dict[str, int], *, tokenizer, template, max_length: int,
             batch: int, nproc: int, epochs: int, system: str | None) -> RunPlan:
    """``paths``: {data file: records held out of it for validation}."""
    records = tokens = 0
    for path, holdout in paths.items():
        n, mean = _records_and_lengths(path, holdout, tokenizer, template, max_length, system)
        records += n
        tokens += n * mean
    packs = math.ceil(tokens / (max_length * UTILISATION)) if tokens else 0
    per_epoch = math.ceil(packs / (batch * nproc)) if packs else 0
    how = "the config's tokenizer" if tokenizer is not None else \
        f"{CHARS_PER_TOKEN} characters a token (tokenizer not available here)"
    return RunPlan(records, tokens / records if records else 0.0, packs, per_epoch,
                   per_epoch * epochs, how)


def check_plan(plan: RunPlan, *, warmup_ratio: float | None, save_steps: int,
               evaluation_freq: int | None, accumulation: int,
               save_last: bool = True) -> list[Check]:
    total = plan.total_iters
    checks = [Check("run length", OK if total else FAIL,
                    f"~{plan.records} records x {plan.tokens_per_record:.0f} tokens -> "
                    f"~{plan.packs} packs -> ~{plan.iters_per_epoch} iterations per epoch per "
                    f"GPU, ~{total} in all (~{math.ceil(total / max(accumulation, 1))} optimizer steps; "
                    f"tokens by {plan.how})",
                    "" if total else "no data to train on: check the data files")]
    if not total:
        return checks
    if warmup_ratio:
        warmup = warmup_ratio * total
        if warmup < 2:
            checks.append(Check(
                "warmup", FAIL, f"warmup_ratio {warmup_ratio:g} of ~{total} iterations is "
                f"{warmup:.1f}: below two, the learning rate stays at start_factor x lr",
                f"warmup_ratio >= {2 / total:.3g}, or warmup_ratio = 0 and no LinearLR warmup "
                "(docs/training.md#short-runs-warmup)"))
        else:
            checks.append(Check("warmup", OK, f"~{warmup:.0f} iterations"))
    if save_steps > total:
        checks.append(Check(
            "save interval", WARN if save_last else FAIL,
            f"save_steps {save_steps} > the ~{total} iterations of the run: "
            + ("only the final checkpoint, so a crash loses the whole run" if save_last
               else "no checkpoint would be saved (save_last=False)"),
            f"save_steps = {max(1, total // 2)} (PART 1)"))
    else:
        checks.append(Check("save interval", OK, f"a checkpoint every {save_steps} of ~{total} "
                            "iterations"))
    if evaluation_freq and evaluation_freq > total:
        checks.append(Check("eval interval", WARN, f"evaluation_freq {evaluation_freq} > ~{total}"
                            " iterations: sample answers and val_loss only at the end",
                            f"evaluation_freq = {max(1, total // 4)} (PART 1)"))
    elif evaluation_freq:
        checks.append(Check("eval interval", OK, f"every {evaluation_freq} iterations"))
    return checks
