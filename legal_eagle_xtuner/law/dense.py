"""Dense retrieval beside BM25: article embeddings from a local encoder folder
(``law index --embedding-model DIR``, e.g. a copy of BAAI/bge-m3), and the hybrid of
both rankings.

An embedding is the encoder's first-token ([CLS]) hidden state, L2-normalised — how the
BGE models make their dense vectors — computed with ``transformers`` (no further
dependency). The score of an article for a query is the cosine of their vectors. The
hybrid fuses the BM25 and the dense ranking by reciprocal rank (``1 / (60 + rank)``
summed), so neither score scale has to be calibrated against the other.

Encoding the whole corpus (58,867 articles) wants a GPU; ``--device`` chooses it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import numpy as np

__all__ = ["RRF_K", "Encoder", "fuse"]

RRF_K = 60
"""Reciprocal-rank fusion constant (Cormack et al., 2009)."""


class Encoder:
    """A local encoder folder (config, weights, tokenizer) that embeds texts."""

    def __init__(self, path: str | Path, device: str = "cpu", max_length: int = 512):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.path, self.device, self.max_length = str(path), device, max_length
        if not (Path(path) / "config.json").is_file():
            raise ValueError(f"{path}: not a model folder (no config.json)")
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.model = AutoModel.from_pretrained(self.path).to(device).eval()
        self._torch = torch

    def encode(self, texts: list[str], batch_size: int = 32,
               progress: Callable[[Iterable], Iterable] | None = None) -> np.ndarray:
        """``len(texts) × dim`` float32 rows of unit length."""
        torch = self._torch
        batches = range(0, len(texts), batch_size)
        out = []
        with torch.inference_mode():
            for start in (progress(batches) if progress else batches):
                batch = self.tokenizer(texts[start:start + batch_size], padding=True,
                                       truncation=True, max_length=self.max_length,
                                       return_tensors="pt").to(self.device)
                cls = self.model(**batch).last_hidden_state[:, 0].float()
                out.append(torch.nn.functional.normalize(cls, dim=-1).cpu().numpy())
        dim = self.model.config.hidden_size
        return np.concatenate(out) if out else np.zeros((0, dim), np.float32)


def fuse(rankings: list[np.ndarray], size: int) -> np.ndarray:
    """Reciprocal-rank fusion of document rankings (best first) into one score per
    document; documents no ranking holds score 0."""
    scores = np.zeros(size, np.float32)
    for ranking in rankings:
        scores[ranking] += 1.0 / (RRF_K + 1 + np.arange(len(ranking), dtype=np.float32))
    return scores
