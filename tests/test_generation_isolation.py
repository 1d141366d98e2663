"""Generation on a model whose attention is isolated (what ``IsolatedAttentionHook`` does
before training) gives what the model's own attention gives, for the three remote codes:
InternLM2's second generation (xtuner's copy: a ``Cache``), its first generation (the
hub's 2024-01 code: a tuple cache holding keys after rotary embedding) and InternLM v1
(a tuple cache holding keys before it).

A left-padded batch makes generate's position ids restart (the pads get position 1, each
prompt 0, 1, ...), so the isolated path takes the prefill and must leave the KV cache as
the layer's own forward would. The models are made to read their context (query/key
weights scaled up) so that a wrong cache changes the tokens, not only the float noise."""

import pytest
import torch

from legal_eagle_xtuner.train import attention
from legal_eagle_xtuner.train.attention import attention_layers, isolate_attention

FIXTURES = {"internlm2": "tiny_model", "internlm2_gen1": "tiny_internlm2_gen1",
            "internlm_v1": "tiny_internlm_v1"}
CACHE_STYLE = {"internlm2": "cache", "internlm2_gen1": "tuple_after_rope",
               "internlm_v1": "tuple_before_rope"}
PROMPTS = {
    "internlm2": ["<|im_start|>user\n请问离婚需要准备什么材料？<|im_end|>\n<|im_start|>assistant\n",
                  "<|im_start|>user\n借款<|im_end|>\n<|im_start|>assistant\n"],
    "internlm_v1": ["<|User|>:公司拖欠工资怎么办？<eoh>\n<|Bot|>:", "<|User|>:你好<eoh>\n<|Bot|>:"],
}
PROMPTS["internlm2_gen1"] = PROMPTS["internlm2"]
NEW_TOKENS = 8


def _load(request, family):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = request.getfixturevalue(FIXTURES[family])
    tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=True)
    tokenizer.padding_side = "left"
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(folder), trust_remote_code=True,
                                                 torch_dtype=torch.float32).eval()
    with torch.no_grad():  # sharp attention: the model reads its context
        for name, param in model.named_parameters():
            if any(k in name for k in ("wqkv", "q_proj", "k_proj")):
                param.mul_(6.0)
    return model, tokenizer


def _batch(tokenizer, prompts):
    return tokenizer(prompts, return_tensors="pt", padding=True, return_token_type_ids=False)


def _generate(model, tokenizer, batch, **kwargs):
    out = model.generate(**batch, max_new_tokens=NEW_TOKENS, do_sample=False,
                         pad_token_id=tokenizer.pad_token_id, **kwargs)
    return out[:, batch["input_ids"].shape[1]:].tolist()


def _prefill_cache(model, batch):
    """Layer 0's cached (key, value) after a left-padded prefill, with the position ids
    generate gives it."""
    mask = batch["attention_mask"]
    position_ids = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    with torch.no_grad():
        out = model(**batch, position_ids=position_ids, use_cache=True)
    key, value = out.past_key_values[0]
    return key.clone(), value.clone()


@pytest.mark.parametrize("family", sorted(FIXTURES))
def test_the_cache_convention_is_read_once_per_layer(family, request, monkeypatch):
    model, tokenizer = _load(request, family)
    calls = []
    original = attention._cache_style
    monkeypatch.setattr(attention, "_cache_style",
                        lambda module: calls.append(module) or original(module))
    isolate_attention(model, "sdpa")
    layers = [module for module, _ in attention_layers(model)]
    assert len(calls) == len(layers) == 2
    assert [m._legal_eagle_cache for m in layers] == [CACHE_STYLE[family]] * 2
    _generate(model, tokenizer, _batch(tokenizer, PROMPTS[family]))
    assert len(calls) == 2  # generating read nothing again


@pytest.mark.parametrize("family", sorted(FIXTURES))
def test_generation_is_the_same_with_and_without_isolation(family, request):
    model, tokenizer = _load(request, family)
    prompts = PROMPTS[family]
    batch = _batch(tokenizer, prompts)
    assert batch["attention_mask"][1, 0] == 0  # the second prompt is left-padded

    def runs():
        return {
            "batch": _generate(model, tokenizer, batch),
            "batch, no cache": _generate(model, tokenizer, batch, use_cache=False),
            "alone": [_generate(model, tokenizer, _batch(tokenizer, [p]))[0] for p in prompts],
            "prefill cache": _prefill_cache(model, batch),
        }

    plain = runs()
    assert plain["batch"] == plain["batch, no cache"] == plain["alone"]
    assert all(len(row) == NEW_TOKENS for row in plain["batch"])
    isolate_attention(model, "sdpa")
    isolated = runs()
    for name in ("batch", "batch, no cache", "alone"):
        assert isolated[name] == plain[name], name
    real = batch["attention_mask"].bool()  # the pads' keys are never attended
    for got, want in zip(isolated["prefill cache"], plain["prefill cache"]):
        torch.testing.assert_close(got.transpose(1, 2)[real], want.transpose(1, 2)[real],
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", ["internlm2_gen1", "internlm_v1"])
def test_the_other_tuple_convention_would_corrupt_the_cache(family, request):
    """The check above can fail: with the other generation's convention forced on the
    layers, the cached keys after a left-padded prefill are not the model's."""
    model, tokenizer = _load(request, family)
    batch = _batch(tokenizer, PROMPTS[family])
    want, _ = _prefill_cache(model, batch)
    isolate_attention(model, "sdpa")
    wrong = {"tuple_after_rope": "tuple_before_rope",
             "tuple_before_rope": "tuple_after_rope"}[CACHE_STYLE[family]]
    for module, _ in attention_layers(model):
        module._legal_eagle_cache = wrong
    got, _ = _prefill_cache(model, batch)
    real = batch["attention_mask"].bool()
    differ = (got.transpose(1, 2)[real] - want.transpose(1, 2)[real]).abs().max().item()
    assert differ > 0.1 * want.abs().max().item(), differ


@pytest.mark.parametrize("family", sorted(FIXTURES))
def test_the_remote_codes_own_chat_is_unchanged_by_isolation(family, request):
    model, tokenizer = _load(request, family)
    if family.startswith("internlm2"):
        # InternLM2's chat relies on two things of the hub tokenizer the tiny one says
        # differently: add_bos_token (it adds BOS too, by its post-processor) and no
        # token_type_ids among its outputs
        assert tokenizer("问").input_ids[0] == tokenizer.bos_token_id
        tokenizer.add_bos_token = True
        tokenizer.model_input_names = ["input_ids", "attention_mask"]
    history = [("借款不还能起诉吗？", "可以。")]
    args = dict(max_new_tokens=NEW_TOKENS, do_sample=False)
    before = model.chat(tokenizer, "请问离婚需要准备什么材料？", history=history, **args)
    isolate_attention(model, "sdpa")
    after = model.chat(tokenizer, "请问离婚需要准备什么材料？", history=history, **args)
    assert after == before
    response, new_history = after
    assert isinstance(response, str) and new_history[-1] == ("请问离婚需要准备什么材料？", response)


def test_xtuners_flash_forward_on_internlm_v1_caches_keys_after_rope(tiny_internlm_v1):
    """The convention is read from the forward the layer has when it is isolated: xtuner's
    dispatch (where flash-attn is installed) gives InternLM v1 a forward that caches keys
    after rotary embedding, unlike the remote code's own."""
    import types

    from transformers import AutoModelForCausalLM
    from xtuner.model.modules.dispatch.internlm import internlm_attn_forward

    model = AutoModelForCausalLM.from_pretrained(str(tiny_internlm_v1), trust_remote_code=True)
    for module, _ in attention_layers(model):
        module.forward = types.MethodType(internlm_attn_forward, module)
    isolate_attention(model, "sdpa")
    assert {m._legal_eagle_cache for m, _ in attention_layers(model)} == {"tuple_after_rope"}


def test_an_unknown_cache_convention_is_an_error():
    class ToyAttention(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.wqkv = torch.nn.Linear(4, 12)
            self.rotary_emb = torch.nn.Identity()

        def forward(self, hidden_states, past_key_value=None, **kwargs):
            return hidden_states, None, past_key_value

    with pytest.raises(RuntimeError, match=r"ToyAttention.forward neither updates a Cache nor "
                       r"stores a \(key, value\) tuple around apply_rotary_pos_emb"):
        isolate_attention(torch.nn.Sequential(ToyAttention()), "sdpa")
