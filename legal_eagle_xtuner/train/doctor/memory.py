"""Peak GPU memory per device, derived from the model the config builds, and the batch
that fits each common card.

The model as ``xtuner train CONFIG`` builds it (train/model.py, every compat shim in
force), in bytes:

- frozen weights: a LoRA config keeps its base in the config's 16-bit dtype (2 B a
  weight: ``compat.xtuner._patch_lora_fp32_upcast``); a 4-bit config keeps its linear
  layers in NF4 with double quantisation (0.52 B a weight) and, after peft's k-bit
  preparation, its embedding and head in fp32 (4 B);
- LoRA: weight, gradient and two AdamW moments, fp32: 16 B a parameter, on each linear
  layer of the config's ``target_modules``;
- activations kept by checkpointing: each decoder layer's input, ``batch x L x hidden``
  in the residual stream's dtype (16-bit; fp32 for a 4-bit config, whose embedding is
  fp32), plus one layer recomputed in the backward pass, ``batch x L x (4 hidden +
  3 FFN)`` in 16 bits. Without checkpointing every layer's activations are kept;
- the loss (``loss_impl``): ``chunked`` holds one chunk's logits at a time -- 16-bit
  logits, their fp32 copy, softmax and gradient, 14 B x chunk x vocabulary -- and the
  labelled tokens' hidden states; ``full`` three fp32 copies of the whole micro-batch's
  logits.

Before 0.3 these terms were fitted to two H200 runs of a model whose base the
benchmark (wrongly) held in fp32 and whose loss took full logits (7B 46.18 GB measured,
20B QLoRA 39.42 GB); with that model's terms (:func:`peak_bytes` with
``base_bytes=4``, ``loss_impl="full"``) they still give 45.6 and 38.9 GB. The terms of
the model the configs build are not measured on a GPU yet: treat them as an estimate,
and `benchmarks/train_throughput.py --memory-cap-gib` as the measurement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

KNOWN_SHAPES = {
    "internlm/internlm2-chat-7b": dict(hidden_size=4096, num_hidden_layers=32,
                                       num_attention_heads=32, num_key_value_heads=8,
                                       intermediate_size=14336, vocab_size=92544),
    "internlm/internlm2-chat-20b": dict(hidden_size=6144, num_hidden_layers=48,
                                        num_attention_heads=48, num_key_value_heads=8,
                                        intermediate_size=16384, vocab_size=92544),
    "internlm/internlm-chat-7b": dict(hidden_size=4096, num_hidden_layers=32,
                                      num_attention_heads=32, num_key_value_heads=32,
                                      intermediate_size=11008, vocab_size=103168),
}
"""The configs' models, for machines where neither a folder nor the cache has them."""

CARDS = (
    ("RTX 4090 / 3090", 24.0),
    ("A100 40GB", 40.0),
    ("A100 80GB / H100", 80.0),
    ("H200", 141.0),
)
"""(name, memory in GB as sold) of the cards the per-card table plans for."""
HEADROOM = 0.9
"""Share of a card's memory a plan may fill: the CUDA context, cuBLAS workspaces and
the caching allocator's fragmentation take the rest."""
CHUNK_TOKENS = 512
"""train/loss.py's DEFAULT_CHUNK_TOKENS (not imported: the doctor loads no torch)."""


@dataclass
class Shape:
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    vocab_size: int

    @property
    def linear_per_layer(self) -> list[tuple[int, int]]:
        """(in, out) of each linear layer of one decoder layer (q/k/v fused or not)."""
        h, i = self.hidden_size, self.intermediate_size
        kv = h // self.num_attention_heads * self.num_key_value_heads
        return [(h, h + 2 * kv), (h, h), (h, i), (h, i), (i, h)]


def model_shape(path: str) -> Shape | None:
    """From the model folder's or the hub cache's config.json, else the known table."""
    config = Path(path) / "config.json"
    if not config.is_file():
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(path, "config.json")
            config = Path(cached) if isinstance(cached, str) else None
        except ImportError:  # pragma: no cover
            config = None
    if config is not None and config.is_file():
        data = json.loads(config.read_text("utf-8"))
        data.setdefault("num_key_value_heads", data.get("num_attention_heads"))
        return Shape(**{k: int(data[k]) for k in Shape.__dataclass_fields__})
    known = KNOWN_SHAPES.get(path)
    return Shape(**known) if known else None


def peak_bytes(shape: Shape, *, batch: int, max_length: int, lora_rank: int,
               quantized: bool, checkpointing: bool = True, loss_impl: str = "chunked",
               base_bytes: float = 2.0) -> float:
    """Peak bytes per device of one training step (see the module docstring).
    ``base_bytes``: bytes a frozen weight of a LoRA (not 4-bit) base takes."""
    layers, h, vocab = shape.num_hidden_layers, shape.hidden_size, shape.vocab_size
    linear = sum(a * b for a, b in shape.linear_per_layer) * layers
    edges = 2 * vocab * h  # embedding and head
    if quantized:
        weights, stream = 0.52 * linear + 4.0 * edges, 4.0
    else:
        weights, stream = base_bytes * (linear + edges), base_bytes
    lora = 16.0 * lora_rank * sum(a + b for a, b in shape.linear_per_layer) * layers
    tokens = batch * max_length
    layer_act = tokens * (4 * h + 3 * shape.intermediate_size) * 2.0
    kept = tokens * h * stream * layers if checkpointing else layer_act * layers
    if loss_impl == "full":
        loss = 3 * tokens * vocab * 4.0
    else:
        loss = 14.0 * min(CHUNK_TOKENS, tokens) * vocab + tokens * h * 2.0
    return weights + lora + kept + layer_act + loss


def fitting_batch(shape: Shape, free_bytes: float, *, batch: int, max_length: int,
                  lora_rank: int, quantized: bool, headroom: float = HEADROOM,
                  **terms) -> int:
    """The largest per-device batch <= ``batch`` whose estimate fits ``headroom`` of
    ``free_bytes`` (0 if not even 1 does)."""
    for b in range(batch, 0, -1):
        if peak_bytes(shape, batch=b, max_length=max_length, lora_rank=lora_rank,
                      quantized=quantized, **terms) <= headroom * free_bytes:
            return b
    return 0


@dataclass
class CardPlan:
    """What the config needs on one card, per device."""

    card: str
    memory_gb: float
    peak_gb: float
    """Estimated peak at the config's batch."""
    fits: bool
    """The config's batch fits ``HEADROOM`` of the card."""
    batch: int
    """The largest per-device batch that fits and divides the config's samples per
    optimizer step (0: not even 1 fits)."""
    accumulation: int
    """With ``batch``: the accumulation that keeps the config's tokens per step."""
    batch_peak_gb: float
    no_checkpointing_batch: int
    """The same, with use_activation_checkpointing = False (0: not even 1 fits)."""

    def as_json(self) -> dict:
        return dict(vars(self))


def card_plans(shape: Shape, *, batch: int, accumulation: int, max_length: int,
               lora_rank: int, quantized: bool, checkpointing: bool = True,
               loss_impl: str = "chunked", cards=CARDS) -> list[CardPlan]:
    """For each card: the peak at the config's batch, and the largest per-device batch
    ``b`` (a divisor of batch x accumulation, so that the accumulation ``batch x
    accumulation / b`` keeps the config's tokens per optimizer step exactly) that fits."""
    per_step = batch * accumulation
    terms = dict(max_length=max_length, lora_rank=lora_rank, quantized=quantized,
                 loss_impl=loss_impl)

    def largest(limit, ckpt):
        return next((b for b in range(per_step, 0, -1) if per_step % b == 0
                     and peak_bytes(shape, batch=b, checkpointing=ckpt, **terms) <= limit), 0)

    plans = []
    for name, gb in cards:
        limit = HEADROOM * gb * 1e9
        peak = peak_bytes(shape, batch=batch, checkpointing=checkpointing, **terms)
        best = largest(limit, checkpointing)
        best_peak = peak_bytes(shape, batch=best, checkpointing=checkpointing,
                               **terms) if best else 0.0
        plans.append(CardPlan(name, gb, round(peak / 1e9, 1), peak <= limit, best,
                              per_step // best if best else 0, round(best_peak / 1e9, 1),
                              largest(limit, False)))
    return plans
