"""What the run reads and writes: the model (a local folder, or a hub id in the cache),
the data files (present, and their first records valid), the work dir."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from legal_eagle_xtuner.train.doctor import remote_code
from legal_eagle_xtuner.train.doctor.check import FAIL, OK, WARN, Check

FIRST_RECORDS = 300
"""Records of each data file checked with `legal-eagle data validate`'s rules."""
TOKENIZER_FILES = ("tokenizer.model", "tokenizer.json")


def check_model(path: str) -> Check:
    folder = Path(path)
    if folder.is_dir():
        missing = [] if (folder / "config.json").is_file() else ["config.json"]
        if not any((folder / name).is_file() for name in TOKENIZER_FILES):
            missing.append("tokenizer (tokenizer.model or tokenizer.json)")
        if (folder / "config.json").is_file():
            auto_map = json.loads((folder / "config.json").read_text("utf-8")).get("auto_map", {})
            code = {v.split(".")[0] + ".py" for v in auto_map.values() if isinstance(v, str)}
            missing += sorted(f"remote code {c}" for c in code if not (folder / c).is_file())
        if missing:
            return Check("model", FAIL, f"{path}: missing {', '.join(missing)}",
                         "download the whole model folder (docs/training.md, models)")
        return _with_remote_code(
            Check("model", OK, f"{path}: config, tokenizer and remote code present"), folder)
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        try_to_load_from_cache = None
    cached = try_to_load_from_cache(path, "config.json") if try_to_load_from_cache else None
    if isinstance(cached, str):
        return _with_remote_code(Check("model", OK, f"{path}: in the hub cache"),
                                 Path(cached).parent)
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    return Check("model", FAIL if offline else WARN,
                 f"{path}: not a folder and not in the hub cache"
                 + (" (HF_HUB_OFFLINE=1: it cannot be downloaded)" if offline else
                    "; training downloads it first (a cluster without network cannot)"),
                 f"huggingface-cli download {path}, or set the config to a local folder")


def _with_remote_code(check: Check, folder: Path) -> Check:
    """``check`` naming the folder's remote code (``remote_code`` in --json); FAIL where
    InternLM2's first generation meets xtuner's flash-attention dispatch."""
    code = remote_code.detect(folder)
    if code is None:
        return check
    check.detail += f"; {code.text}"
    check.data["remote_code"] = code.as_json()
    if code.family == "internlm2" and code.generation == 1 and \
            remote_code.flash_attn_dispatch():
        check.status = FAIL
        check.detail += (": flash-attn is installed, so xtuner's dispatch calls the second "
                         "generation's rotary_emb(x, position_ids) and training fails before "
                         "the first step (InternLM/xtuner#791)")
        check.fix = remote_code.REMEDY
    return check


def check_data(paths: list[str]) -> list[Check]:
    """Each file: present, and its first records valid (the first problem as FILE:LINE)."""
    from legal_eagle_xtuner.data.corpus import iter_checked
    from legal_eagle_xtuner.data.records import FileFormatError

    checks = []
    for path in paths:
        if not Path(path).is_file():
            checks.append(Check("data", FAIL, f"{path}: no such file",
                                "get the data into ./data first: docs/data.md"))
            continue
        seen = bad = 0
        first = None
        try:
            for item in iter_checked([path]):
                seen += 1
                if not item.ok:
                    bad += 1
                    first = first or f"{item.where}: {item.error}"
                if seen >= FIRST_RECORDS:
                    break
        except FileFormatError as exc:
            checks.append(Check("data", FAIL, str(exc), f"legal-eagle data validate {path}"))
            continue
        if bad:
            checks.append(Check("data", FAIL, f"{bad} of the first {seen} records are invalid; "
                                f"first: {first}", f"legal-eagle data convert {path} -o "
                                "clean.jsonl (drops and counts them), then train on clean.jsonl"))
        else:
            checks.append(Check("data", OK, f"{path}: first {seen} records valid"))
    return checks


def check_work_dir(work_dir: str, need_gb: float = 20.0) -> Check:
    folder = Path(work_dir)
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        return Check("work dir", FAIL, f"{work_dir}: {probe} is not writable",
                     "--work-dir DIR somewhere writable")
    free = shutil.disk_usage(probe).free / 1e9
    if free < need_gb:
        return Check("work dir", WARN, f"{work_dir}: {free:.1f} GB free; checkpoints of LoRA "
                     f"runs take a few GB each, caches of the data more",
                     f"free disk or --work-dir on a larger disk (>= {need_gb:g} GB)")
    return Check("work dir", OK, f"{work_dir}: writable, {free:.0f} GB free")
