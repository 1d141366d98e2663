"""Isolated packing: samples packed into one row never see each other.

Packing puts several whole samples into one ``max_length`` row. Run as one sequence,
each sample would attend to the samples before it in the row and its rotary positions
would continue from where the previous one ended, so its loss would depend on its
neighbours. Here a packed row is attended as the separate samples it holds:

- ``isolated_collate_fn`` (the configs' collate function) gives every sample position
  ids that restart at 0 -- read from the pack's ``position_ids`` column -- and the
  padding after the last sample a segment of its own;
- ``isolate_attention(model, path)`` (through ``IsolatedAttentionHook``) gives each
  InternLM2 / InternLM v1 attention layer a forward that, for a batch whose position
  ids restart, applies the model's own projections and rotary embedding and attends
  within each sample only. Any other batch (generation, unpacked validation) runs the
  layer's own forward unchanged.

The attention kernel (``path``), chosen once per run from what the machine has:

- ``flash_varlen``: flash-attn's ``flash_attn_varlen_func`` over the samples'
  boundaries -- where flash-attn is installed (CUDA, fp16/bf16);
- ``sdpa``: ``torch.nn.functional.scaled_dot_product_attention`` with a block-diagonal
  causal boolean mask (batch x 1 x L x L, 16 MiB at 4 x 2048) -- every device;
- ``flex``: FlexAttention with a document mask (a block-sparse mask: fully masked
  blocks are skipped) -- CUDA with torch >= 2.5; chosen only when asked for.

``auto`` takes ``flash_varlen`` where flash-attn imports and the device is CUDA, else
``sdpa``. The segments and the mask are built once per batch, on the first layer, and
reused by every other layer and by activation checkpointing's recomputation.
"""

from __future__ import annotations

import inspect
import sys
import types
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

PATHS = ("auto", "flash_varlen", "sdpa", "flex")
_CACHE_SIZE = 4


@dataclass
class Segments:
    """The samples of one packed batch, read from its restarting position ids."""

    position_ids: torch.Tensor
    """(batch, length); 0 where a sample (or the padding) starts. Held so that the
    cache key (its storage address) cannot be reused while the entry lives."""
    ids: torch.Tensor
    """(batch, length): the number of each token's sample within its row."""
    _cache: dict = field(default_factory=dict)

    @classmethod
    def of(cls, position_ids: torch.Tensor) -> "Segments":
        starts = position_ids == 0
        return cls(position_ids, starts.cumsum(dim=1))

    def sdpa_mask(self) -> torch.Tensor:
        """(batch, 1, L, L) bool: True where query i may attend key j -- the same
        sample and j <= i."""
        if "sdpa" not in self._cache:
            length = self.ids.shape[1]
            causal = torch.ones(length, length, dtype=torch.bool,
                                device=self.ids.device).tril_()
            self._cache["sdpa"] = ((self.ids[:, :, None] == self.ids[:, None, :])
                                   & causal)[:, None]
        return self._cache["sdpa"]

    def varlen(self) -> tuple[torch.Tensor, int]:
        """(cu_seqlens int32, max_seqlen) over the batch flattened row after row."""
        if "varlen" not in self._cache:
            flat = (self.ids + torch.arange(self.ids.shape[0], device=self.ids.device)[:, None]
                    * (self.ids.shape[1] + 1)).flatten()
            _, counts = torch.unique_consecutive(flat, return_counts=True)
            cu = F.pad(counts.cumsum(0), (1, 0)).to(torch.int32)
            self._cache["varlen"] = (cu, int(counts.max()))
        return self._cache["varlen"]

    def block_mask(self):
        """FlexAttention's block mask for the same rule as ``sdpa_mask``."""
        if "flex" not in self._cache:
            from torch.nn.attention.flex_attention import create_block_mask

            batch, length = self.ids.shape
            # The mask function is also evaluated on the padding up to whole 128-token
            # blocks: give it ids there (a segment of its own).
            ids = F.pad(self.ids, (0, -length % 128), value=-1)

            def same_sample_causal(b, h, q, kv):
                return (ids[b, q] == ids[b, kv]) & (q >= kv)

            self._cache["flex"] = create_block_mask(same_sample_causal, batch, None, length,
                                                    length, device=ids.device)
        return self._cache["flex"]


_SEGMENTS: list[tuple[tuple, Segments | None, torch.Tensor]] = []


def segments_of(position_ids: torch.Tensor | None) -> Segments | None:
    """The batch's ``Segments``, or None when its position ids do not restart (not a
    packed batch). Cached by the tensor's storage, so the layers of one forward and
    its recomputation in the backward pass share one."""
    if position_ids is None or position_ids.dim() != 2 or position_ids.shape[1] < 2:
        return None
    key = (position_ids.device, position_ids.data_ptr(), position_ids.storage_offset(),
           tuple(position_ids.shape), position_ids.stride(), position_ids._version)
    for cached_key, segments, _ in _SEGMENTS:
        if cached_key == key:
            return segments
    packed = bool((position_ids[:, 1:] == 0).any())
    segments = Segments.of(position_ids) if packed else None
    _SEGMENTS.insert(0, (key, segments, position_ids))
    del _SEGMENTS[_CACHE_SIZE:]
    return segments


def _repeat_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    if groups == 1:
        return x
    b, h, length, d = x.shape
    return x[:, :, None].expand(b, h, groups, length, d).reshape(b, h * groups, length, d)


def attend(path: str, q, k, v, segments: Segments) -> torch.Tensor:
    """Attention within each sample. q: (B, H, L, D), k/v: (B, H_kv, L, D) -> (B, H, L, D)."""
    groups = q.shape[1] // k.shape[1]
    if path == "sdpa":
        return F.scaled_dot_product_attention(q, _repeat_kv(k, groups), _repeat_kv(v, groups),
                                              attn_mask=segments.sdpa_mask())
    if path == "flex":
        return _compiled_flex()(q, _repeat_kv(k, groups), _repeat_kv(v, groups),
                                block_mask=segments.block_mask())
    if path == "flash_varlen":
        from flash_attn import flash_attn_varlen_func

        b, h, length, d = q.shape
        dtype = q.dtype if q.dtype in (torch.float16, torch.bfloat16) else (
            torch.get_autocast_dtype("cuda") if torch.is_autocast_enabled() else torch.bfloat16)
        cu, longest = segments.varlen()
        q_, k_, v_ = (t.transpose(1, 2).reshape(b * length, t.shape[1], d).to(dtype)
                      for t in (q, k, v))
        out = flash_attn_varlen_func(q_, k_, v_, cu, cu, longest, longest, causal=True)
        return out.reshape(b, length, h, d).transpose(1, 2).to(q.dtype)
    raise ValueError(f"unknown attention path {path!r}; choose from {', '.join(PATHS)}")


_FLEX = None


def _compiled_flex():
    global _FLEX
    if _FLEX is None:
        from torch.nn.attention.flex_attention import flex_attention

        _FLEX = torch.compile(flex_attention, dynamic=False)
    return _FLEX


# --------------------------------------------------------------------------- #
# The models: their own projections and rotary embedding, our attention
# --------------------------------------------------------------------------- #

def _internlm2_qkv(self, hidden_states):
    """InternLM2's fused ``wqkv``: per key/value head, its query group, then k, then v."""
    b, length, _ = hidden_states.shape
    groups = self.num_key_value_groups
    qkv = self.wqkv(hidden_states).view(b, length, -1, groups + 2, self.head_dim)
    q = qkv[..., :groups, :].reshape(b, length, -1, self.head_dim)
    return q.transpose(1, 2), qkv[..., -2, :].transpose(1, 2), qkv[..., -1, :].transpose(1, 2)


def _internlm_qkv(self, hidden_states):
    """InternLM v1's separate q/k/v projections."""
    b, length, _ = hidden_states.shape
    kv_heads = getattr(self, "num_key_value_heads", self.num_heads)
    q = self.q_proj(hidden_states).view(b, length, self.num_heads, self.head_dim)
    k = self.k_proj(hidden_states).view(b, length, kv_heads, self.head_dim)
    v = self.v_proj(hidden_states).view(b, length, kv_heads, self.head_dim)
    return q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)


FAMILIES = {
    # attribute that identifies the layout: (q/k/v, output projection)
    "wqkv": (_internlm2_qkv, "wo"),
    "q_proj": (_internlm_qkv, "o_proj"),
}


def _rope_style(module) -> tuple:
    """(apply_rotary_pos_emb of the remote code, whether its rotary embedding takes
    position ids); read once per layer when it is isolated, not per forward."""
    apply = sys.modules[type(module).__module__].apply_rotary_pos_emb
    return apply, "position_ids" in inspect.signature(module.rotary_emb.forward).parameters


def _rotary(self, q, k, v, position_ids):
    """The remote code's own rotary embedding, called the way its version expects:
    ``rotary_emb(x, position_ids)`` (InternLM2 of 2024) or ``rotary_emb(x, seq_len)`` with
    the positions given to ``apply_rotary_pos_emb`` (InternLM v1, older InternLM2)."""
    apply, by_position = self._legal_eagle_rope
    if by_position:
        cos, sin = self.rotary_emb(v, position_ids)
        return apply(q, k, cos, sin)
    cos, sin = self.rotary_emb(v, seq_len=v.shape[-2])
    return apply(q, k, cos, sin, position_ids)


def _has_cached_keys(past_key_value, layer_idx) -> bool:
    if past_key_value is None:
        return False
    if hasattr(past_key_value, "get_seq_length"):
        return past_key_value.get_seq_length(layer_idx or 0) > 0
    return True  # a legacy tuple cache: only generation passes one


def _isolated_forward(self, hidden_states, attention_mask=None, position_ids=None,
                      past_key_value=None, output_attentions=False, use_cache=False, **kwargs):
    segments = segments_of(position_ids)
    if (segments is None or output_attentions
            or _has_cached_keys(past_key_value, getattr(self, "layer_idx", None))):
        return self._legal_eagle_forward(
            hidden_states, attention_mask=attention_mask, position_ids=position_ids,
            past_key_value=past_key_value, output_attentions=output_attentions,
            use_cache=use_cache, **kwargs)
    qkv, out_name = self._legal_eagle_family
    q, k, v = qkv(self, hidden_states)
    present = past_key_value
    if use_cache and not hasattr(past_key_value, "update"):
        present = (k, v)  # a legacy tuple cache (InternLM v1) holds keys before RoPE
    q, k = _rotary(self, q, k, v, position_ids)
    if past_key_value is not None and hasattr(past_key_value, "update"):
        k, v = past_key_value.update(k, v, self.layer_idx)  # a Cache holds them after
    if q.dtype != k.dtype:  # as the models do under autocast
        k, v = k.to(q.dtype), v.to(q.dtype)
    out = attend(self._legal_eagle_path, q, k, v, segments)
    b, _, length, _ = out.shape
    out = getattr(self, out_name)(out.transpose(1, 2).reshape(b, length, -1))
    return out, None, present


def attention_layers(model: torch.nn.Module):
    """(module, family) of every InternLM2 / InternLM v1 attention layer in ``model``."""
    for module in model.modules():
        if not type(module).__name__.endswith(("Attention", "Attention2")):
            continue
        for attr, family in FAMILIES.items():
            if hasattr(module, attr) and hasattr(module, "rotary_emb"):
                yield module, family
                break


def choose_path(path: str = "auto", device: torch.device | str | None = None) -> str:
    """The kernel for ``path`` on ``device``; an error naming what is missing when an
    explicit choice cannot run here."""
    if path not in PATHS:
        raise ValueError(f"attention path {path!r}: choose from {', '.join(PATHS)}")
    cuda = torch.device(device).type == "cuda" if device is not None else \
        torch.cuda.is_available()
    if path == "auto":
        return "flash_varlen" if cuda and _flash_attn_available() else "sdpa"
    if path == "flash_varlen" and not (cuda and _flash_attn_available()):
        raise RuntimeError("attention path 'flash_varlen' needs flash-attn and a CUDA "
                           "device; use 'sdpa' (every device) or 'auto'")
    if path == "flex" and not (cuda and _has_flex()):
        raise RuntimeError("attention path 'flex' needs torch >= 2.5 on a CUDA device; "
                           "use 'sdpa' (every device) or 'auto'")
    return path


def _flash_attn_available() -> bool:
    try:
        import flash_attn  # noqa: F401
    except Exception:  # not installed, or built for another torch / CUDA
        return False
    return True


def _has_flex() -> bool:
    try:
        from torch.nn.attention import flex_attention  # noqa: F401
    except ImportError:
        return False
    return True


def isolate_attention(model: torch.nn.Module, path: str = "auto") -> tuple[str, int]:
    """Give every attention layer of ``model`` the isolated forward; idempotent.
    Returns (the kernel chosen, the number of layers). Raises when the model has no
    InternLM2 / InternLM v1 attention layer: packing would then leak."""
    layers = list(attention_layers(model))
    if not layers:
        raise RuntimeError(
            f"isolated packing: {type(model).__name__} has no InternLM2 (wqkv) or InternLM "
            "(q_proj) attention layer to isolate; set isolate_packed_samples = False to "
            "train with cross-attending packs")
    device = next((p.device for p in model.parameters()), None)
    chosen = choose_path(path, device)
    for module, family in layers:
        if not hasattr(module, "_legal_eagle_forward"):
            module._legal_eagle_forward = module.forward
            module.forward = types.MethodType(_isolated_forward, module)
        module._legal_eagle_family = family
        module._legal_eagle_rope = _rope_style(module)
        module._legal_eagle_path = chosen
    return chosen, len(layers)
