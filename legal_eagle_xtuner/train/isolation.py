"""What a config names to train with isolated packs: the collate function that gives
each packed sample its own positions, and the hook that isolates the model's attention
(the mechanism is ``train/attention.py``)."""

from __future__ import annotations

import torch
from mmengine.hooks import Hook

from legal_eagle_xtuner.train.attention import PATHS, isolate_attention


def isolated_collate_fn(instances, pad_index: int | None = None,
                        return_hf_format: bool = False):
    """XTuner's ``default_collate_fn`` (right padding, 2-D attention mask), with position
    ids that restart at 0 for every sample: read from each pack's ``position_ids``
    column, which ``legal_sft_dataset(isolate_samples=True)`` writes (an instance
    without it is one sample). The padding after the last sample restarts at 0 too,
    as a segment of its own, so no sample attends to it."""
    from xtuner.dataset.collate_fns import default_collate_fn
    from xtuner.utils import DEFAULT_PAD_TOKEN_INDEX

    pad = DEFAULT_PAD_TOKEN_INDEX if pad_index is None else pad_index
    batch = default_collate_fn(instances, pad, return_hf_format=True, use_varlen_attn=False)
    length = batch["input_ids"].shape[1]
    rows = []
    for number, instance in enumerate(instances):
        size = len(instance["input_ids"])
        own = instance.get("position_ids")
        positions = (torch.arange(size) if own is None
                     else torch.as_tensor(own, dtype=torch.long))
        if positions.shape != (size,):
            raise ValueError(f"instance {number}: {positions.numel()} position ids for "
                             f"{size} tokens")
        rows.append(torch.cat([positions, torch.arange(length - size)]))
    batch["position_ids"] = torch.stack(rows)
    return batch if return_hf_format else {"data": batch, "data_samples": None}


class IsolatedAttentionHook(Hook):
    """Before the run (after the model is built and wrapped, with or without DeepSpeed),
    give every attention layer the isolated forward and log once which kernel it uses."""

    priority = "VERY_HIGH"

    def __init__(self, path: str = "auto"):
        if path not in PATHS:
            raise ValueError(f"IsolatedAttentionHook: path {path!r}; choose from "
                             f"{', '.join(PATHS)}")
        self.path = path

    def before_run(self, runner) -> None:
        chosen, layers = isolate_attention(runner.model, self.path)
        runner.logger.info(
            f"isolated packing: packed samples attend only to themselves, positions "
            f"restart per sample; attention path {chosen!r} (asked {self.path!r}) on "
            f"{layers} layers")
