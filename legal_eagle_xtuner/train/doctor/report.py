"""Run every check of a config and print one table (or JSON)."""

from __future__ import annotations

import os
from pathlib import Path

from legal_eagle_xtuner.train.doctor import environment, inputs, memory, plan
from legal_eagle_xtuner.train.doctor.check import FAIL, NA, OK, Check


def _data_files(node, holdout: int = 0) -> dict[str, int]:
    """{data file: records its dataset holds out for validation} of a dataset config."""
    found: dict[str, int] = {}
    if isinstance(node, dict):
        holdout = int(node.get("holdout") or holdout or 0) if "holdout" in node else holdout
        for key, value in node.items():
            if key == "data_files":
                for v in (value.values() if isinstance(value, dict) else [value]):
                    if isinstance(v, str):
                        found[v] = holdout
            else:
                found.update(_data_files(value, holdout))
    elif isinstance(node, (list, tuple)):
        for value in node:
            found.update(_data_files(value, holdout))
    return found


def _tokenizer(path: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path, trust_remote_code=True,
                                             local_files_only=True)
    except Exception:  # noqa: BLE001 -- not here: the plan counts characters instead
        return None


def diagnose(config_path: str, *, nproc: int = 1, deepspeed: str | None = None,
             work_dir: str | None = None) -> tuple[list[Check], dict]:
    """(checks, figures) for ``config_path``; figures: the run plan and memory estimate."""
    from mmengine.config import Config

    import legal_eagle_xtuner  # noqa: F401 (the CPU shim)

    cfg = Config.fromfile(config_path)
    checks = [environment.check_stack()]
    gpu_check, gpus = environment.check_gpus()
    checks.append(gpu_check)
    llm = cfg.model.llm
    quantized = llm.get("quantization_config") is not None
    checks.append(environment.check_bitsandbytes(quantized))
    checks.append(environment.check_attention(cfg.get("isolate_packed_samples", False),
                                              cfg.get("attention_path", "auto"),
                                              cfg.get("use_varlen_attn", False)))
    checks += environment.check_launch(nproc, deepspeed)
    model_path = str(llm.pretrained_model_name_or_path)
    checks.append(inputs.check_model(model_path))
    holdouts = _data_files(cfg.train_dataloader.dataset)
    data = sorted(holdouts)
    data_checks = inputs.check_data(data)
    checks += data_checks
    work_dir = work_dir or os.path.join("work_dirs", Path(config_path).stem)
    checks.append(inputs.check_work_dir(work_dir))

    batch = cfg.train_dataloader.batch_size
    accumulation = cfg.optim_wrapper.get("accumulative_counts", 1)
    max_length = cfg.get("max_length", 2048)
    figures: dict = {"config": config_path, "nproc": nproc}
    if all(c.status != FAIL for c in data_checks) and data:
        tokenizer = _tokenizer(str(cfg.tokenizer.pretrained_model_name_or_path))
        run = plan.estimate(holdouts, tokenizer=tokenizer,
                            template=cfg.get("prompt_template"), max_length=max_length,
                            batch=batch, nproc=nproc,
                            epochs=cfg.train_cfg.get("max_epochs", 1),
                            system=cfg.get("SYSTEM"))
        if cfg.train_cfg.get("max_iters"):
            run.total_iters = int(cfg.train_cfg.max_iters)
        figures["plan"] = vars(run)
        checks += plan.check_plan(run, warmup_ratio=cfg.get("warmup_ratio"),
                                  save_steps=int(cfg.default_hooks.checkpoint.interval),
                                  evaluation_freq=cfg.get("evaluation_freq"),
                                  accumulation=accumulation,
                                  save_last=cfg.default_hooks.checkpoint.get("save_last", True))
    checks.append(_memory(model_path, cfg, batch, accumulation, max_length, quantized, gpus,
                          figures))
    return checks, figures


def _memory(model_path, cfg, batch, accumulation, max_length, quantized, gpus, figures):
    shape = memory.model_shape(model_path)
    if shape is None:
        return Check("memory", NA, f"n/a: the shape of {model_path} is unknown here")
    rank = int(cfg.model.lora.get("r", 8))
    terms = dict(max_length=max_length, lora_rank=rank, quantized=quantized,
                 checkpointing=bool(cfg.model.get("use_activation_checkpointing", True)),
                 loss_impl=str(cfg.model.get("loss_impl", "full")))
    need = memory.peak_bytes(shape, batch=batch, **terms)
    figures["memory"] = {"peak_gb": round(need / 1e9, 1), "batch": batch,
                         "max_length": max_length, "loss_impl": terms["loss_impl"],
                         "checkpointing": terms["checkpointing"]}
    figures["cards"] = [p.as_json() for p in memory.card_plans(
        shape, batch=batch, accumulation=accumulation, **terms)]
    what = f"~{need / 1e9:.1f} GB per device at batch {batch} x {max_length} (estimate)"
    if not gpus:
        return Check("memory", NA, f"n/a: no GPU; {what}")
    name, free, _ = min(gpus, key=lambda g: g[1])
    if need <= memory.HEADROOM * free:
        return Check("memory", OK, f"{what}; {name} has {free / 1e9:.1f} GB free")
    fit = memory.fitting_batch(shape, free, batch=batch, **terms)
    fix = (f"batch_size = {fit}, accumulative_counts = {batch * accumulation // fit} "
           "(same effective batch)" if fit else "a larger GPU, or a shorter max_length")
    return Check("memory", OK if fit == batch else "FAIL",
                 f"{what}; {name} has {free / 1e9:.1f} GB free", fix)


def card_table(figures: dict) -> list[str]:
    """The per-card plan (figures["cards"]) as lines, or none."""
    cards = figures.get("cards")
    if not cards:
        return []
    mem = figures["memory"]
    lines = [f"per card (estimate; batch {mem['batch']} x {mem['max_length']}, loss "
             f"{mem['loss_impl']}, activation checkpointing "
             f"{'on' if mem['checkpointing'] else 'off'}; a plan fills at most "
             f"{memory.HEADROOM:.0%} of the card):",
             f"  {'card (GB)':<22}{'config batch':>14}{'batch x accum.':>18}"
             f"{'peak GB':>9}  without checkpointing"]
    for c in cards:
        at_config = f"{c['peak_gb']:.1f} GB {'fits' if c['fits'] else 'no'}"
        plan = f"{c['batch']} x {c['accumulation']}" if c["batch"] else "does not fit"
        peak = f"{c['batch_peak_gb']:.1f}" if c["batch"] else "-"
        card = f"{c['card']} ({c['memory_gb']:g})"
        bare = c["no_checkpointing_batch"]
        lines.append(f"  {card:<22}{at_config:>14}{plan:>18}{peak:>9}  "
                     + (f"{bare} x {c['batch'] * c['accumulation'] // bare}" if bare
                        else "does not fit"))
    return lines


def table(checks: list[Check]) -> list[str]:
    lines = []
    for c in checks:
        lines.append(f"{c.status:<5} {c.name:<14} {c.detail}")
        if c.fix and c.status != OK:
            lines.append(f"{'':<5} {'':<14} fix: {c.fix}")
    failed = sum(c.status == FAIL for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    lines.append(f"{failed} FAIL, {warned} warn, {sum(c.status == OK for c in checks)} ok")
    return lines
