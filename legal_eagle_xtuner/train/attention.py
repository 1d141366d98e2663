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
  within each sample only (:func:`~legal_eagle_xtuner.train.kernels.attend`). Any other
  batch (generation, unpacked validation) runs the layer's own forward unchanged. A
  prefill whose position ids restart (a left-padded batch) leaves the KV cache as the
  layer's own forward would: each remote code's convention (a ``Cache``, or a tuple
  holding keys before or after rotary embedding) is read once per layer.

The kernels (``path``: ``auto``, ``torch_varlen``, ``flash_varlen``, ``sdpa``, ``flex``)
and the batch's segments live in :mod:`legal_eagle_xtuner.train.kernels`.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
import types

import torch

from legal_eagle_xtuner.train.kernels import PATHS, Segments, attend, choose_path, segments_of

__all__ = ["PATHS", "Segments", "attend", "attention_layers", "choose_path",
           "isolate_attention", "segments_of"]


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


CACHE_STYLES = ("cache", "tuple_after_rope", "tuple_before_rope")
"""Where a remote code keeps a layer's keys and values for generation: a ``Cache`` object
whose ``update`` takes them after rotary embedding (InternLM2 of 2024-07 on), or the
``(key, value)`` tuple the layer returns, holding keys after rotary embedding (InternLM2
of 2024-01 to 2024-06) or before it (InternLM v1, which rotates the whole cache again
at every step)."""


def _first_line(tree, found) -> int | None:
    lines = [node.lineno for node in ast.walk(tree) if found(node)]
    return min(lines) if lines else None


def _is_call(node, name: str) -> bool:
    func = getattr(node, "func", None) if isinstance(node, ast.Call) else None
    return (getattr(func, "id", None) or getattr(func, "attr", None)) == name


def _updates_cache(node) -> bool:
    """``past_key_value.update(...)``."""
    owner = getattr(getattr(node, "func", None), "value", None)
    return _is_call(node, "update") and getattr(owner, "id", None) == "past_key_value"


def _cache_style(module) -> str:
    """The layer's cache convention (:data:`CACHE_STYLES`), read from its forward's source:
    whether it calls ``past_key_value.update``, else whether it builds its
    ``past_key_value = (key, value)`` tuple before or after ``apply_rotary_pos_emb``.
    Read once per layer when it is isolated, not per forward."""
    forward = getattr(module, "_legal_eagle_forward", module.forward)
    name = f"{type(module).__module__}.{type(module).__qualname__}.forward"
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(forward)))
    except (OSError, TypeError, SyntaxError) as exc:
        raise RuntimeError(f"isolated packing: cannot read the source of {name} to find "
                           f"its KV-cache convention ({exc})") from exc
    if _first_line(tree, _updates_cache) is not None:
        return "cache"
    rope = _first_line(tree, lambda n: _is_call(n, "apply_rotary_pos_emb"))
    stored = _first_line(tree, lambda n: isinstance(n, ast.Assign) and any(
        getattr(t, "id", None) == "past_key_value" for t in n.targets)
        and any(isinstance(v, ast.Tuple) for v in ast.walk(n.value)))
    if rope is None or stored is None:
        raise RuntimeError(
            f"isolated packing: {name} neither updates a Cache nor stores a (key, value) "
            "tuple around apply_rotary_pos_emb; its KV-cache convention is unknown")
    return "tuple_before_rope" if stored < rope else "tuple_after_rope"


def _has_cached_keys(past_key_value, layer_idx) -> bool:
    if past_key_value is None:
        return False
    if hasattr(past_key_value, "get_seq_length"):
        return past_key_value.get_seq_length(layer_idx or 0) > 0
    return len(past_key_value) > 0 and past_key_value[0] is not None  # a tuple cache


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
    style = self._legal_eagle_cache
    present = past_key_value if style == "cache" else None
    if use_cache and style == "tuple_before_rope":
        present = (k, v)
    q, k = _rotary(self, q, k, v, position_ids)
    if use_cache and style == "tuple_after_rope":
        present = (k, v)
    if style == "cache" and past_key_value is not None:
        k, v = past_key_value.update(k, v, self.layer_idx)
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
        module._legal_eagle_cache = _cache_style(module)
        module._legal_eagle_rope = _rope_style(module)
        module._legal_eagle_path = chosen
    return chosen, len(layers)
