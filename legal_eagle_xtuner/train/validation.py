"""Held-out validation loss during training, through mmengine's validation loop.

XTuner's ``SupervisedFinetune.val_step`` returns full-vocabulary logits (its
``predict`` mode), which is what a generation metric wants but far too much to
keep for a loss. :class:`ValLossLoop` instead runs each validation batch in
``loss`` mode, under the same mixed precision as training, and hands
``(loss × tokens, tokens)`` to :class:`ValLoss`. The metric sums those over the
whole split, across all processes (mmengine's ``BaseMetric`` gathers the
results), so the reported ``val_loss`` is the mean over *tokens*, the same
quantity as the training loss, and does not depend on batch size or the number
of processes.

In a config (see ``configs/``)::

    val_dataloader = dict(batch_size=1, dataset=val_dataset, ...)
    val_evaluator = dict(type=ValLoss)
    val_cfg = dict(type=ValLossLoop)
    train_cfg = dict(type=TrainLoop, max_epochs=3, val_interval=1000)

Across processes the two sums are all-reduced (rather than gathered through
the temporary files mmengine's ``collect_results`` writes into the working
directory). The few samples a distributed sampler repeats to even out the
ranks (at most one per process but one) are counted like the others.

The loop runs every ``val_interval`` iterations and after the last one. The
result is logged as ``val_loss`` (and ``val_ppl``) to the text log, the
``scalars.json`` that ``legal-eagle plot`` reads, and TensorBoard.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.runner import ValLoop

IGNORE_INDEX = -100

__all__ = ["ValLoss", "ValLossLoop", "target_tokens"]


def target_tokens(labels: torch.Tensor) -> int:
    """Tokens a causal LM loss averages over: labels are shifted by one inside
    the model, so the first position of each row never is a target."""
    return int((labels[..., 1:] != IGNORE_INDEX).sum())


def _data_preprocessor(model):
    """The model's data preprocessor through any mmengine wrapper (DDP keeps the
    model in ``.module``, the DeepSpeed wrapper in ``.model.module``)."""
    for path in ((), ("module",), ("model", "module")):
        obj = model
        for name in path:
            obj = getattr(obj, name, None)
        preprocessor = getattr(obj, "data_preprocessor", None)
        if preprocessor is not None:
            return preprocessor
    raise TypeError(f"cannot find the data preprocessor of {type(model).__name__}")


def _precision_context(runner):
    """The autocast training runs under (AmpOptimWrapper), so validation sees
    the same numerics; DeepSpeed and fp32 wrappers need none."""
    from mmengine.optim import AmpOptimWrapper
    from mmengine.runner.amp import autocast

    wrapper = getattr(runner, "optim_wrapper", None)
    if isinstance(wrapper, AmpOptimWrapper):
        return autocast(dtype=wrapper.cast_dtype)
    return contextlib.nullcontext()


class ValLossLoop(ValLoop):
    """mmengine's ``ValLoop`` with each batch run in ``loss`` mode.

    Args:
        runner: the runner.
        dataloader: the validation dataloader (or its config).
        evaluator: defaults to :class:`ValLoss`.
        fp16: ignored (kept for ``ValLoop``'s signature); the precision is the
            training optimizer wrapper's.
    """

    def __init__(self, runner, dataloader, evaluator=None, fp16: bool = False) -> None:
        super().__init__(runner, dataloader, evaluator or dict(type=ValLoss), fp16)

    def run(self) -> dict:
        # Validation must not move the training's random stream (the dataloader
        # iterator draws a seed from torch's generator): training then does not
        # depend on how often it is validated, and a resumed run, which does not
        # repeat the validation of its checkpoint iteration, stays exact.
        devices = ([torch.cuda.current_device()]
                   if torch.cuda.is_available() and torch.cuda.is_initialized() else [])
        with torch.random.fork_rng(devices=devices):
            return super().run()

    @torch.no_grad()
    def run_iter(self, idx, data_batch: Sequence[dict]):
        self.runner.call_hook("before_val_iter", batch_idx=idx, data_batch=data_batch)
        model = self.runner.model
        data = _data_preprocessor(model)(data_batch, False)
        with _precision_context(self.runner):
            losses = model._run_forward(data, mode="loss")
        labels = data["data"]["labels"]
        tokens = target_tokens(labels)
        loss = float(losses["loss"].float()) if tokens else 0.0
        outputs = [{"loss_sum": loss * tokens, "tokens": tokens}]
        self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        self.runner.call_hook("after_val_iter", batch_idx=idx, data_batch=data_batch,
                              outputs=outputs)


class ValLoss(BaseMetric):
    """Token-weighted mean loss over the validation split (``val_loss``) and its
    perplexity (``val_ppl``)."""

    default_prefix = ""  # metric names are already unambiguous

    def __init__(self, collect_device: str = "cpu", prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)

    def evaluate(self, size: int) -> dict:
        """Sum (loss × tokens, tokens) over this process's batches and all
        processes, then :meth:`compute_metrics`. ``size`` is not needed."""
        from mmengine.dist import all_reduce, get_world_size

        sums = torch.tensor([sum(s for s, _ in self.results), sum(n for _, n in self.results)],
                            dtype=torch.float64)
        if get_world_size() > 1:
            all_reduce(sums, op="sum")
        self.results.clear()
        return self.compute_metrics([(float(sums[0]), int(sums[1]))])

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            self.results.append((float(sample["loss_sum"]), int(sample["tokens"])))

    def compute_metrics(self, results: list) -> dict:
        tokens = sum(n for _, n in results)
        if not tokens:
            raise ValueError("the validation split has no target tokens; "
                             "is it empty, or are all outputs masked?")
        loss = sum(s for s, _ in results) / tokens
        return {"val_loss": loss, "val_ppl": math.exp(min(loss, 50.0)),
                "val_tokens": tokens}
