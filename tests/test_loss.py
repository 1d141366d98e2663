"""The chunked loss: XTuner's value and gradients, without [tokens x vocabulary] logits."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from legal_eagle_xtuner.train.loss import chunked_cross_entropy

INTERNLM2_VOCAB = 92544


def _full_loss(hidden, head, labels):
    """What the models' own forward(labels=...) computes: shifted, fp32, mean over
    the label tokens of the micro-batch."""
    logits = head(hidden).float()
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                           labels[:, 1:].reshape(-1), ignore_index=-100)


def _inputs(batch=3, length=57, width=16, vocab=101, seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(batch, length, width, generator=g, requires_grad=True)
    head = torch.nn.Linear(width, vocab, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.randn(vocab, width, generator=g))
    labels = torch.randint(0, vocab, (batch, length), generator=g)
    if batch == 3:
        labels[:, :11] = -100  # a prompt
        labels[1, 30:40] = -100  # a second turn's prompt
        labels[2, -5:] = -100  # padding
    return hidden, head, labels


@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
def test_chunked_loss_and_gradients_equal_the_full_loss(chunk):
    hidden, head, labels = _inputs()
    full = _full_loss(hidden, head, labels)
    full.backward()
    want_hidden, want_head = hidden.grad.clone(), head.weight.grad.clone()
    hidden.grad, head.weight.grad = None, None

    got = chunked_cross_entropy(hidden, head, labels, chunk_tokens=chunk)
    got.backward()
    torch.testing.assert_close(got, full, rtol=1e-6, atol=0)
    torch.testing.assert_close(hidden.grad, want_hidden, rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(head.weight.grad, want_head, rtol=1e-5, atol=1e-7)
    assert (hidden.grad[:, -1] == 0).all()  # the last position predicts nothing


def test_chunked_loss_under_bf16_autocast_matches_the_full_loss():
    hidden, head, labels = _inputs(seed=1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        full = _full_loss(hidden, head, labels)
        got = chunked_cross_entropy(hidden, head, labels, chunk_tokens=16)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, full, rtol=1e-5, atol=0)


def test_no_label_token_gives_a_zero_in_the_graph_and_bad_chunks_are_refused():
    hidden, head, labels = _inputs()
    loss = chunked_cross_entropy(hidden, head, torch.full_like(labels, -100))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert (hidden.grad == 0).all()
    with pytest.raises(ValueError, match="chunk_tokens must be >= 1, got 0"):
        chunked_cross_entropy(hidden, head, labels, chunk_tokens=0)


class _LargestTensor(TorchDispatchMode):
    """The largest tensor (elements) any op creates while the mode is on."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in (out if isinstance(out, (tuple, list)) else (out,)):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


@pytest.mark.parametrize("impl", ["chunked", "full"])
def test_largest_tensor_of_a_loss_step_at_the_real_vocabulary(impl):
    """One loss forward + backward over 2048 tokens at InternLM2's vocabulary: the
    chunked loss (default chunk) never creates a tensor of half tokens x vocabulary;
    the full loss does create the whole logits (so the probe sees them)."""
    tokens = 2048
    hidden, head, labels = _inputs(batch=1, length=tokens, width=8, vocab=INTERNLM2_VOCAB)
    probe = _LargestTensor()
    with probe:
        loss = (chunked_cross_entropy(hidden, head, labels) if impl == "chunked"
                else _full_loss(hidden, head, labels))
        loss.backward()
    if impl == "chunked":
        assert probe.largest < tokens * INTERNLM2_VOCAB / 2
    else:
        assert probe.largest >= (tokens - 1) * INTERNLM2_VOCAB


def test_loss_memory_benchmark_runs_both_losses_in_one_run():
    """benchmarks/loss_memory.py at a small size: both losses measured, equal values."""
    import subprocess
    import sys

    from conftest import REPO

    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "loss_memory.py"),
                           "--tokens", "1536", "--hidden", "8", "--vocab", "3000",
                           "--prompt", "10"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    kv = dict(item.split("=", 1) for item in proc.stdout.strip().splitlines()[-1].split())
    assert kv["loss_equal"] == "True" and kv["vocab"] == "3000"
    assert int(kv["chunked_largest"]) < 1536 * 3000 / 2 <= int(kv["full_largest"])
    assert 0 < float(kv["chunked_peak_gb"]) and 0 < float(kv["full_peak_gb"])
