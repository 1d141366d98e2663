"""The model the configs build: XTuner's ``SupervisedFinetune`` with a loss that never
holds the whole vocabulary's logits.

:class:`SupervisedFinetune` is XTuner's class (build, LoRA, activation checkpointing,
state dict, generation: all XTuner's) with one change, its training loss:
``loss_impl="chunked"`` (the configs' default) runs the decoder for its hidden states
and :func:`~legal_eagle_xtuner.train.loss.chunked_cross_entropy` over the output head;
``loss_impl="full"`` is XTuner's own (``llm(**data).loss``). Validation
(``train/validation.py``, ``mode="loss"``) takes the same loss; generation, ``xtuner
chat``, EvaluateChatHook and ``mode="predict"`` call the model itself and keep their
full logits.

XTuner's sequence-parallel loss is left as XTuner computes it, and so is the loss under
DeepSpeed ZeRO-3: ZeRO-3 releases the head's partitioned weight after the forward pass,
and checkpointing's recomputation in the backward pass would find it empty
(``tests/test_deepspeed_train.py`` trains ZeRO-3 with it); the value is the same.
"""

from __future__ import annotations

from xtuner.model import SupervisedFinetune as _XTunerSupervisedFinetune
from xtuner.parallel.sequence import get_sequence_parallel_world_size

from legal_eagle_xtuner.train.loss import DEFAULT_CHUNK_TOKENS, LOSS_IMPLS, chunked_cross_entropy

__all__ = ["SupervisedFinetune", "decoder_and_head"]


def decoder_and_head(llm):
    """(decoder, output head) of a causal LM, PEFT-wrapped or not: the decoder returns
    the last hidden states (after the final norm), the head turns them into logits --
    ``model`` / ``output`` in InternLM2, ``model`` / ``lm_head`` in InternLM v1."""
    causal_lm = llm.get_base_model() if hasattr(llm, "get_base_model") else llm
    decoder = getattr(causal_lm, "model", None)
    head = causal_lm.get_output_embeddings()
    if decoder is None or head is None:
        raise RuntimeError(f"loss_impl='chunked': {type(causal_lm).__name__} has no "
                           "`model` decoder or output embeddings; use loss_impl='full'")
    return decoder, head


class SupervisedFinetune(_XTunerSupervisedFinetune):
    """XTuner's SupervisedFinetune; ``loss_impl`` and ``loss_chunk_tokens`` choose the
    training loss (see the module docstring)."""

    def __init__(self, *args, loss_impl: str = "chunked",
                 loss_chunk_tokens: int = DEFAULT_CHUNK_TOKENS, **kwargs):
        if loss_impl not in LOSS_IMPLS:
            raise ValueError(f"loss_impl={loss_impl!r}: choose from {', '.join(LOSS_IMPLS)}")
        if loss_chunk_tokens < 1:
            raise ValueError(f"loss_chunk_tokens must be >= 1, got {loss_chunk_tokens}")
        super().__init__(*args, **kwargs)
        self.loss_impl = loss_impl
        self.loss_chunk_tokens = loss_chunk_tokens

    def compute_loss(self, data, data_samples=None):
        if self.loss_impl == "full" or get_sequence_parallel_world_size() > 1:
            return super().compute_loss(data, data_samples)
        decoder, head = decoder_and_head(self.llm)
        if any(hasattr(p, "ds_id") for p in head.parameters()):  # ZeRO-3 partitioned
            return super().compute_loss(data, data_samples)
        inputs = {k: v for k, v in data.items() if k != "labels"}
        hidden = decoder(**inputs, use_cache=False)[0]
        return {"loss": chunked_cross_entropy(hidden, head, data["labels"],
                                              self.loss_chunk_tokens)}
