"""Isolated packing: a packed sample's loss and gradients equal the same sample's alone.

The tiny models are made to read their context (query/key weights scaled up, so their
attention is sharp rather than near-uniform), so that the leak of cross-attending packs
is large enough to tell apart from float rounding: each comparison is made twice, with
isolation (equal to fp32 rounding) and without it (the leak the test must see)."""

import sys
import types

import pytest
import torch

from legal_eagle_xtuner.train import attention, kernels
from legal_eagle_xtuner.train.attention import (Segments, attention_layers, choose_path,
                                                isolate_attention, segments_of)
from legal_eagle_xtuner.train.isolation import IsolatedAttentionHook, isolated_collate_fn

LENGTHS = [(37, 50, 23), (41, 29)]  # two packed rows: 3 samples, and 2 samples + padding
LOSS_RTOL = 2e-6
GRAD_RTOL = 5e-5  # of the largest gradient entry: fp32 rounding over ~200 tokens
LEAK_AT_LEAST = 1e-4


def _model(path, lora_targets):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(path), trust_remote_code=True,
                                                 torch_dtype=torch.float32)
    with torch.no_grad():  # sharp attention: the model reads its context
        for name, param in model.named_parameters():
            if any(k in name for k in ("wqkv", "q_proj", "k_proj")):
                param.mul_(6.0)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=lora_targets,
                        init_lora_weights=False, lora_dropout=0.0)
    return get_peft_model(model, config)


INTERNLM2_LORA = ["wqkv", "wo", "w1", "w2", "w3"]
INTERNLM_LORA = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _samples(vocab):
    g = torch.Generator().manual_seed(1)
    return [[torch.randint(5, vocab, (n,), generator=g) for n in row] for row in LENGTHS]


def _loss_sum(model, batch):
    out = model(**batch)
    tokens = (batch["labels"][:, 1:] != -100).sum()
    return out.loss * tokens


def _lora_grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def _alone(model, rows):
    """Sum of token losses and of LoRA gradients, one sample at a time."""
    model.zero_grad()
    total = 0.0
    for row in rows:
        for ids in row:
            batch = isolated_collate_fn([{"input_ids": ids.tolist(), "labels": ids.tolist()}],
                                        pad_index=0, return_hf_format=True)
            loss = _loss_sum(model, batch)
            loss.backward()
            total += loss.item()
    return total, _lora_grads(model)


def _packed_instances(rows):
    instances = []
    for row in rows:
        ids = torch.cat(row)
        labels = ids.clone()
        offset = 0
        for sample in row:  # a sample's first token is never a target of the one before
            labels[offset] = -100
            offset += len(sample)
        positions = torch.cat([torch.arange(len(s)) for s in row])
        instances.append({"input_ids": ids.tolist(), "labels": labels.tolist(),
                          "position_ids": positions.tolist()})
    return instances


def _packed(model, rows, isolated: bool):
    from xtuner.dataset.collate_fns import default_collate_fn

    instances = _packed_instances(rows)
    if isolated:
        batch = isolated_collate_fn(instances, pad_index=0, return_hf_format=True)
    else:  # XTuner's collation: one position range over the whole row
        batch = default_collate_fn([{k: v for k, v in i.items() if k != "position_ids"}
                                    for i in instances], pad_index=0, return_hf_format=True)
    model.zero_grad()
    loss = _loss_sum(model, batch)
    loss.backward()
    return loss.item(), _lora_grads(model)


def _compare(model, rows):
    alone_loss, alone_grads = _alone(model, rows)
    cross_loss, cross_grads = _packed(model, rows, isolated=False)
    chosen, layers = isolate_attention(model, "sdpa")
    assert chosen == "sdpa" and layers == 2
    iso_loss, iso_grads = _packed(model, rows, isolated=True)
    assert set(iso_grads) == set(alone_grads) and len(alone_grads) > 0

    iso_diff = abs(iso_loss - alone_loss) / alone_loss
    cross_diff = abs(cross_loss - alone_loss) / alone_loss
    scale = max(g.abs().max().item() for g in alone_grads.values())
    iso_grad = max((iso_grads[n] - alone_grads[n]).abs().max().item()
                   for n in alone_grads) / scale
    cross_grad = max((cross_grads[n] - alone_grads[n]).abs().max().item()
                     for n in alone_grads) / scale
    print(f"loss: isolated {iso_diff:.2e}, cross {cross_diff:.2e} (relative to alone); "
          f"LoRA grads, max abs difference / max abs: isolated {iso_grad:.2e}, cross {cross_grad:.2e}")
    assert iso_diff <= LOSS_RTOL
    assert iso_grad <= GRAD_RTOL
    assert cross_diff >= LEAK_AT_LEAST  # the test can tell a leaking pack apart
    assert cross_grad >= 100 * GRAD_RTOL
    return iso_diff, cross_diff


def test_internlm2_packed_equals_alone_and_cross_attending_leaks(tiny_model):
    model = _model(tiny_model, INTERNLM2_LORA)
    _compare(model, _samples(model.config.vocab_size))


def test_internlm2_gen1_packed_equals_alone_and_cross_attending_leaks(tiny_internlm2_gen1):
    """The hub's first generation of InternLM2's remote code: rotary_emb(x, seq_len)."""
    model = _model(tiny_internlm2_gen1, INTERNLM2_LORA)
    assert "position_ids" not in str(attention.inspect.signature(
        next(attention_layers(model))[0].rotary_emb.forward))
    _compare(model, _samples(model.config.vocab_size))


def test_internlm_v1_packed_equals_alone_and_cross_attending_leaks(tiny_internlm_v1):
    model = _model(tiny_internlm_v1, INTERNLM_LORA)
    rows = _samples(2048)  # the real tokenizer's vocabulary is larger; any ids will do
    _compare(model, rows)


def test_activation_checkpointing_reuses_one_mask_per_batch(tiny_model, monkeypatch):
    model = _model(tiny_model, INTERNLM2_LORA)
    rows = _samples(model.config.vocab_size)
    isolate_attention(model, "sdpa")
    plain_loss, plain_grads = _packed(model, rows, isolated=True)

    built = []
    original = Segments.sdpa_mask

    def counting(self):
        if "sdpa" not in self._cache:
            built.append(self.ids.shape)
        return original(self)

    monkeypatch.setattr(Segments, "sdpa_mask", counting)
    model.base_model.model.gradient_checkpointing_enable(
        gradient_checkpointing_kwargs={"use_reentrant": False})
    model.base_model.model.enable_input_require_grads()
    model.train()
    ckpt_loss, ckpt_grads = _packed(model, rows, isolated=True)
    assert built == [torch.Size([2, 110])]  # one mask for 2 layers, forward and recompute
    assert ckpt_loss == pytest.approx(plain_loss, rel=1e-6)
    for name in plain_grads:
        torch.testing.assert_close(ckpt_grads[name], plain_grads[name], rtol=1e-5, atol=1e-6)


def test_generation_is_unchanged_by_isolation(tiny_model):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model), trust_remote_code=True,
                                                 torch_dtype=torch.float32)
    prompt = torch.tensor([[5, 17, 300, 42, 9, 77]])
    before = model.generate(prompt, max_new_tokens=12, do_sample=False)
    isolate_attention(model, "auto")
    after = model.generate(prompt, max_new_tokens=12, do_sample=False)
    assert torch.equal(before, after)


def test_collate_restarts_positions_per_sample_and_for_the_padding():
    instances = [
        {"input_ids": [1, 2, 3, 4, 5], "labels": [1, 2, 3, 4, 5],
         "position_ids": [0, 1, 2, 0, 1]},
        {"input_ids": [6, 7, 8], "labels": [6, 7, 8], "position_ids": [0, 1, 2]},
        {"input_ids": [9, 10], "labels": [9, 10]},  # unpacked: one sample
    ]
    out = isolated_collate_fn(instances, pad_index=0)
    assert out["data_samples"] is None
    data = out["data"]
    assert data["position_ids"].tolist() == [[0, 1, 2, 0, 1], [0, 1, 2, 0, 1], [0, 1, 0, 1, 2]]
    assert data["input_ids"].tolist() == [[1, 2, 3, 4, 5], [6, 7, 8, 0, 0], [9, 10, 0, 0, 0]]
    assert data["labels"][1].tolist() == [6, 7, 8, -100, -100]
    assert data["attention_mask"].sum(1).tolist() == [5, 3, 2]
    segments = segments_of(data["position_ids"])
    assert segments.ids.tolist() == [[1, 1, 1, 2, 2], [1, 1, 1, 2, 2], [1, 1, 2, 2, 2]]
    assert segments.sdpa_mask()[0, 0].int().tolist() == [
        [1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 1, 1]]
    cu, longest = segments.varlen()
    assert cu.tolist() == [0, 3, 5, 8, 10, 12, 15] and longest == 3
    assert segments_of(data["position_ids"]) is segments  # built once, then cached
    assert segments_of(torch.arange(6)[None]) is None  # one sample: not a packed batch

    with pytest.raises(ValueError, match="instance 0: 2 position ids for 3 tokens"):
        isolated_collate_fn([{"input_ids": [1, 2, 3], "labels": [1, 2, 3],
                              "position_ids": [0, 1]}])


def _per_sample_sdpa(q, k, v, cu):
    """A stand-in varlen kernel: each sample's causal attention with SDPA, on the
    flattened (T, H, D) layout (fewer key/value heads repeated, as flash-attn allows)."""
    out = torch.empty_like(q)
    groups = q.shape[1] // k.shape[1]
    for a, b in zip(cu[:-1].tolist(), cu[1:].tolist()):
        qs, ks, vs = (t[a:b].transpose(0, 1) for t in (q, k, v))
        ks, vs = ks.repeat_interleave(groups, 0), vs.repeat_interleave(groups, 0)
        out[a:b] = torch.nn.functional.scaled_dot_product_attention(
            qs, ks, vs, is_causal=True).transpose(0, 1)
    return out


def test_flash_varlen_path_hands_flash_attn_the_samples_boundaries(monkeypatch):
    """flash-attn cannot be installed here: a stand-in with flash_attn_varlen_func's
    signature computes each sample's causal attention with SDPA, which checks the
    layout and the boundaries our path gives it (not the kernel itself)."""
    seen = {}

    def flash_attn_varlen_func(q, k, v, cu_q, cu_k, max_q, max_k, causal):
        seen.update(cu=cu_q.tolist(), max=max_q, causal=causal, dtype=q.dtype)
        return _per_sample_sdpa(q, k, v, cu_q)

    monkeypatch.setitem(sys.modules, "flash_attn", types.SimpleNamespace(
        flash_attn_varlen_func=flash_attn_varlen_func))
    position_ids = torch.tensor([[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 0, 1]])
    segments = Segments.of(position_ids)
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 4, 6, 8, generator=g, dtype=torch.bfloat16)
    k, v = (torch.randn(2, 2, 6, 8, generator=g, dtype=torch.bfloat16) for _ in range(2))
    flash = attention.attend("flash_varlen", q, k, v, segments)
    sdpa = attention.attend("sdpa", q, k, v, segments)
    assert seen == {"cu": [0, 3, 5, 6, 10, 12], "max": 4, "causal": True,
                    "dtype": torch.bfloat16}
    torch.testing.assert_close(flash, sdpa, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("signature", ["torch 2.10", "torch 2.11"])
def test_torch_varlen_path_hands_varlen_attn_the_samples_boundaries(monkeypatch, signature):
    """torch's varlen_attn needs CUDA sm80+ (and torch >= 2.10): a stand-in with each
    release's signature (2.10: is_causal; 2.11: window_size=(-1, 0)) checks the layout,
    the boundaries and the causal flag our path hands it, against the SDPA path."""
    seen = {}
    if signature == "torch 2.10":
        def varlen_attn(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, *,
                        return_aux=None, scale=None, is_causal=False):
            seen.update(cu=cu_seq_q.tolist(), max=max_q, causal=is_causal, dtype=query.dtype,
                        heads=(query.shape[1], key.shape[1]))
            return _per_sample_sdpa(query, key, value, cu_seq_q)
    else:
        def varlen_attn(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, *,
                        return_aux=None, scale=None, window_size=(-1, -1)):
            seen.update(cu=cu_seq_q.tolist(), max=max_q, causal=window_size == (-1, 0),
                        dtype=query.dtype, heads=(query.shape[1], key.shape[1]))
            return _per_sample_sdpa(query, key, value, cu_seq_q)

    monkeypatch.setitem(sys.modules, "torch.nn.attention.varlen",
                        types.SimpleNamespace(varlen_attn=varlen_attn))
    position_ids = torch.tensor([[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 0, 1]])
    segments = Segments.of(position_ids)
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 4, 6, 8, generator=g)
    k, v = (torch.randn(2, 2, 6, 8, generator=g) for _ in range(2))
    out = attention.attend("torch_varlen", q, k, v, segments)
    assert seen == {"cu": [0, 3, 5, 6, 10, 12], "max": 4, "causal": True,
                    "dtype": torch.bfloat16, "heads": (4, 4)}
    assert out.dtype == torch.float32  # back in the caller's dtype
    torch.testing.assert_close(out, attention.attend("sdpa", q, k, v, segments),
                               rtol=2e-2, atol=2e-2)


def test_path_choice_and_its_errors(monkeypatch):
    monkeypatch.setattr(kernels, "_flash_attn_available", lambda: False)
    assert choose_path("auto", "cpu") == "sdpa"
    assert choose_path("sdpa", "cpu") == "sdpa"
    with pytest.raises(RuntimeError, match="'flash_varlen' needs flash-attn and a CUDA device"):
        choose_path("flash_varlen", "cpu")
    with pytest.raises(RuntimeError, match="'flex' needs torch >= 2.5 on a CUDA device"):
        choose_path("flex", "cpu")
    with pytest.raises(ValueError, match="attention path 'fast': choose from auto, "
                       "torch_varlen, flash_varlen, sdpa, flex"):
        choose_path("fast", "cpu")
    with pytest.raises(RuntimeError, match="'torch_varlen' needs torch >= 2.10 .* compute "
                       "capability 8.0"):
        choose_path("torch_varlen", "cpu")
    monkeypatch.setattr(kernels, "_flash_attn_available", lambda: True)
    assert choose_path("auto", "cuda") == "flash_varlen"
    assert choose_path("auto", "cpu") == "sdpa"
    monkeypatch.setattr(kernels, "_torch_varlen_available", lambda device: True)
    assert choose_path("auto", "cuda") == "torch_varlen"  # torch's own before flash-attn
    assert choose_path("auto", "cpu") == "sdpa"
    with pytest.raises(ValueError, match="IsolatedAttentionHook: path 'x'"):
        IsolatedAttentionHook(path="x")
    with pytest.raises(RuntimeError, match="Linear has no InternLM2 .* set "
                       "isolate_packed_samples = False"):
        isolate_attention(torch.nn.Linear(2, 2))


def test_isolating_twice_keeps_the_original_forward(tiny_model):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model), trust_remote_code=True)
    isolate_attention(model, "sdpa")
    first = [m._legal_eagle_forward for m, _ in attention_layers(model)]
    isolate_attention(model, "sdpa")
    assert [m._legal_eagle_forward for m, _ in attention_layers(model)] == first
    assert all(f.__func__.__name__ == "forward" for f in first)


def test_flex_document_mask_equals_the_sdpa_mask_on_cpu(monkeypatch):
    """FlexAttention's mask function, run uncompiled on CPU (its reference path), gives
    what the block-diagonal SDPA mask gives, at a length that is not a multiple of
    its 128-token blocks."""
    flex = pytest.importorskip("torch.nn.attention.flex_attention")
    monkeypatch.setattr(kernels, "_FLEX", flex.flex_attention)
    segments = Segments.of(torch.tensor([[0, 1, 2, 0, 1, 0] * 40, [0, 1, 2, 3, 0, 1] * 40]))
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 4, 240, 16, generator=g)
    k, v = (torch.randn(2, 2, 240, 16, generator=g) for _ in range(2))
    torch.testing.assert_close(attention.attend("flex", q, k, v, segments),
                               attention.attend("sdpa", q, k, v, segments))


@pytest.mark.parametrize("family", ["internlm2", "internlm2_gen1", "internlm_v1"])
def test_left_padded_batched_generation_is_unchanged_by_isolation(family, request):
    """Left padding can make generate's position ids restart (InternLM2's remote code gives
    the pads position 1, the prompt 0, 1, ...): the isolated path then takes the prefill,
    and must give what the model's own attention does, cache included."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tiny_model = request.getfixturevalue({"internlm2": "tiny_model",
                                          "internlm2_gen1": "tiny_internlm2_gen1",
                                          "internlm_v1": "tiny_internlm_v1"}[family])
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model), trust_remote_code=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.unk_token
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model), trust_remote_code=True,
                                                 torch_dtype=torch.float32)
    batch = tokenizer(["请问离婚需要准备什么材料？", "借款"], return_tensors="pt", padding=True,
                      return_token_type_ids=False)
    before = model.generate(**batch, max_new_tokens=10, do_sample=False,
                            pad_token_id=tokenizer.pad_token_id)
    isolate_attention(model, "sdpa")
    after = model.generate(**batch, max_new_tokens=10, do_sample=False,
                           pad_token_id=tokenizer.pad_token_id)
    assert torch.equal(before, after)
