"""Peak GPU memory per device, estimated from the config, and the batch that fits.

bytes = frozen weights (fp32: XTuner's LoRA path leaves the base in fp32 after peft's
preparation; 4-bit linear layers 0.52 B a weight with double quantisation, their
embedding and head fp32) + LoRA (weight, gradient, two Adam moments: 16 B a parameter)
+ activations kept by checkpointing (each layer's fp32 input, batch x L x hidden) + one
layer recomputed (batch x L x (4 hidden + 3 FFN) in half precision) + the logits
(batch x L x vocab, fp32, three copies: logits, their loss and gradient). Without
checkpointing every layer's activations are kept.

Calibrated against the two H200 measurements (docs/benchmarks.md): 7B LoRA 46.18 GB
(this gives 45.6), 20B QLoRA 39.42 GB (this gives 38.9), both within 2%.
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
               quantized: bool, checkpointing: bool = True) -> float:
    layers, h, vocab = shape.num_hidden_layers, shape.hidden_size, shape.vocab_size
    linear = sum(a * b for a, b in shape.linear_per_layer) * layers
    edges = 2 * vocab * h  # embedding and head
    weights = (0.52 * linear if quantized else 4.0 * linear) + 4.0 * edges
    lora = 16.0 * lora_rank * sum(a + b for a, b in shape.linear_per_layer) * layers
    tokens = batch * max_length
    layer_act = tokens * (4 * h + 3 * shape.intermediate_size) * 2.0
    kept = tokens * h * 4.0 * layers if checkpointing else layer_act * layers
    logits = 3 * tokens * vocab * 4.0
    return weights + lora + kept + layer_act + logits


def fitting_batch(shape: Shape, free_bytes: float, *, batch: int, max_length: int,
                  lora_rank: int, quantized: bool, headroom: float = 0.9) -> int:
    """The largest per-device batch <= ``batch`` whose estimate fits ``headroom`` of
    ``free_bytes`` (0 if not even 1 does)."""
    for b in range(batch, 0, -1):
        if peak_bytes(shape, batch=b, max_length=max_length, lora_rank=lora_rank,
                      quantized=quantized) <= headroom * free_bytes:
            return b
    return 0
