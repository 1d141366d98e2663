"""The training loss without [tokens x vocabulary] logits.

A causal LM's loss is the cross-entropy of ``head(hidden)`` at every position against
the next token. Computed whole, as the models' own ``forward(labels=...)`` does, it
holds the logits of every token of the micro-batch: at the configs' 4 x 2048 tokens and
InternLM2's 92,544-word vocabulary each fp32 copy (the logits, their softmax, their
gradient) is 3 GB, more than the LoRA weights, their optimizer state and the checkpointed
activations of a 7B model together.

:func:`chunked_cross_entropy` keeps only the hidden states of the tokens that have a
label (prompt tokens never reach the head) and runs the head and the cross-entropy over
``chunk_tokens`` of them at a time, each chunk under activation checkpointing: the
forward pass keeps one chunk's logits at a time and frees them, the backward pass
recomputes one chunk's logits, takes their gradient and frees both. The peak is
``chunk_tokens x vocabulary`` instead of ``tokens x vocabulary``; the price is one more
pass of the head over the labelled tokens (about 2% of a 7B model's training FLOPs).

The value is XTuner's (the models' own): the mean over the micro-batch's label tokens
of the cross-entropy of position ``t``'s logits against label ``t + 1``; the gradients
are the same to fp32 rounding (``tests/test_loss.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

IGNORE_INDEX = -100
LOSS_IMPLS = ("chunked", "full")
"""``chunked``: :func:`chunked_cross_entropy` (the configs' default); ``full``: the
model's own loss over full logits (XTuner's)."""
DEFAULT_CHUNK_TOKENS = 512


def _chunk_loss(head: torch.nn.Module, hidden: torch.Tensor, labels: torch.Tensor
                ) -> torch.Tensor:
    """Summed cross-entropy of one chunk, in fp32 as the models compute it."""
    return F.cross_entropy(head(hidden).float(), labels, reduction="sum")


def chunked_cross_entropy(hidden: torch.Tensor, head: torch.nn.Module, labels: torch.Tensor,
                          chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> torch.Tensor:
    """Mean next-token cross-entropy of ``head(hidden)`` against ``labels``.

    hidden: (batch, length, hidden) -- the decoder's last hidden states;
    head: the output projection (a LoRA-wrapped one works too: it is called, not read);
    labels: (batch, length), ``-100`` where a token is not trained on.
    A micro-batch without a single label token gives a zero that still reaches the
    graph (the full loss would give NaN).
    """
    if chunk_tokens < 1:
        raise ValueError(f"chunk_tokens must be >= 1, got {chunk_tokens}")
    width = hidden.shape[-1]
    targets = labels[:, 1:].reshape(-1)
    keep = targets != IGNORE_INDEX
    states = hidden[:, :-1].reshape(-1, width)[keep]
    targets = targets[keep]
    count = targets.numel()
    if count == 0:
        return hidden.sum() * 0.0
    total = None
    for start in range(0, count, chunk_tokens):
        part = checkpoint(_chunk_loss, head, states[start:start + chunk_tokens],
                          targets[start:start + chunk_tokens], use_reentrant=False)
        total = part if total is None else total + part
    return total / count
