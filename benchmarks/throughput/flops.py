"""Model shapes and FLOPs: what MFU and HFU count, and the GPUs' peak FLOP/s.

MFU formula (model FLOPs per real token; recompute NOT counted, the usual MFU
convention):
    6 * N_trainable                forward 2N + backward 4N (activation and weight
                                   gradients) of the LoRA matrices
  + 4 * N_frozen                   frozen weights need activation gradients only:
                                   forward 2N + backward 2N
  + 12 * n_layers * hidden * s     attention scores QK^T and A.V, forward (4*d*s)
                                   plus backward (8*d*s), per layer
N counts matmul weights only: every linear layer including the output head, at
its logical in*out size (4-bit weights too); the embedding table (a lookup) and
the norm weights are not counted. s is the number of tokens a token attends to,
without halving for the causal mask (PaLM's convention): without varlen
attention a token attends over its whole pack row, so a row with r real tokens
costs 12*L*d*r*r; for XTuner's packs r = max_length. Padding is not model work
and is never counted. HFU adds the recompute of activation checkpointing, one
more forward: 2*(N_trainable + N_frozen) + 4*L*d*s per token.

Peak FLOP/s: --peak-tflops, else picked from torch.cuda.get_device_name()
(H100/H200/H800 SXM 989, H100 PCIe 756, A100/A800 312 dense fp16/bf16), else 989
with a warning. On CPU MFU is reported as n/a.
"""

from __future__ import annotations

SHAPES = {
    "7b": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=8, intermediate_size=14336, vocab_size=92544,
               rope_theta=1000000, max_position_embeddings=32768),
    "20b": dict(hidden_size=6144, num_hidden_layers=48, num_attention_heads=48,
                num_key_value_heads=8, intermediate_size=16384, vocab_size=92544,
                rope_theta=1000000, max_position_embeddings=32768),
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, intermediate_size=176, vocab_size=2048,
                 rope_theta=1000000, max_position_embeddings=4096),
}

# Dense fp16/bf16 tensor-core peak, TFLOP/s, by a substring of the device name
# (first match wins).
PEAK_TFLOPS = (
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("H200", 989.0),
    ("H800", 989.0),
    ("GH200", 989.0),
    ("A100", 312.0),
    ("A800", 312.0),
)
DEFAULT_PEAK_TFLOPS = 989.0


def matmul_params(shape: dict) -> int:
    """Weights of every linear layer of an InternLM2 of ``shape`` (output head
    included, embedding table and norms not): the N_frozen of the MFU formula."""
    d = shape["hidden_size"]
    head_dim = d // shape["num_attention_heads"]
    qkv = d * (shape["num_attention_heads"] + 2 * shape["num_key_value_heads"]) * head_dim
    per_layer = qkv + d * d + 3 * d * shape["intermediate_size"]
    return shape["num_hidden_layers"] * per_layer + d * shape["vocab_size"]


def flops_per_token(n_trainable: float, n_frozen: float, n_layers: int, hidden: int,
                    attn_len: float, recompute: bool = False) -> float:
    """Training FLOPs of one token (see the module docstring):
    6*N_trainable + 4*N_frozen + 12*n_layers*hidden*attn_len, plus one more forward,
    2*(N_trainable + N_frozen) + 4*n_layers*hidden*attn_len, if ``recompute``
    (activation checkpointing; not counted in MFU)."""
    flops = 6 * n_trainable + 4 * n_frozen + 12 * n_layers * hidden * attn_len
    if recompute:
        flops += 2 * (n_trainable + n_frozen) + 4 * n_layers * hidden * attn_len
    return float(flops)


def batch_flops(row_lengths, n_trainable: float, n_frozen: float, n_layers: int,
                hidden: int, recompute: bool = False) -> float:
    """FLOPs of a batch whose rows hold ``row_lengths`` real tokens each (no
    varlen attention: each token of a row attends to the row's real tokens)."""
    return float(sum(
        int(r) * flops_per_token(n_trainable, n_frozen, n_layers, hidden, int(r), recompute)
        for r in row_lengths
    ))


def peak_tflops_for(device_name: str) -> float | None:
    for key, value in PEAK_TFLOPS:
        if key.lower() in device_name.lower():
            return value
    return None

