"""The attention kernels of isolated packing, and the packed batch's segments.

A packed batch is attended as the separate samples it holds (``train/attention.py``
gives the models' attention layers a forward that calls :func:`attend`). The kernel
(``path``), chosen once per run from what the machine has:

- ``torch_varlen``: torch's own varlen flash attention,
  ``torch.nn.attention.varlen.varlen_attn`` (torch >= 2.10, CUDA sm80+, fp16/bf16; no
  flash-attn package) over the samples' boundaries. torch 2.10 takes ``is_causal=True``,
  2.11 and later ``window_size=(-1, 0)``; both are called by their own signature;
- ``flash_varlen``: flash-attn's ``flash_attn_varlen_func`` over the same boundaries --
  where flash-attn is installed (CUDA, fp16/bf16);
- ``sdpa``: ``torch.nn.functional.scaled_dot_product_attention`` with a block-diagonal
  causal boolean mask (batch x 1 x L x L, 16 MiB at 4 x 2048) -- every device. On a GPU
  the flash backend refuses a mask, so this runs the memory-efficient kernel over all
  L x L scores;
- ``flex``: FlexAttention with a document mask (a block-sparse mask: fully masked
  blocks are skipped) -- CUDA with torch >= 2.5; chosen only when asked for.

``auto`` takes ``torch_varlen`` where torch has it and the device is CUDA sm80+, else
``flash_varlen`` where flash-attn imports and the device is CUDA, else ``sdpa``. The
segments and the mask are built once per batch, on the first layer, and reused by every
other layer and by activation checkpointing's recomputation.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

PATHS = ("auto", "torch_varlen", "flash_varlen", "sdpa", "flex")
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

        cu, longest = segments.varlen()
        q_, k_, v_ = _flat_16bit(q, k, v)
        out = flash_attn_varlen_func(q_, k_, v_, cu, cu, longest, longest, causal=True)
        return _unflat(out, q)
    if path == "torch_varlen":
        return _torch_varlen(q, _repeat_kv(k, groups), _repeat_kv(v, groups), segments)
    raise ValueError(f"unknown attention path {path!r}; choose from {', '.join(PATHS)}")


def _flat_16bit(q, k, v):
    """(B, H, L, D) -> (B*L, H, D) in the 16-bit dtype the varlen kernels take: the
    tensors' own, else autocast's, else bf16."""
    dtype = q.dtype if q.dtype in (torch.float16, torch.bfloat16) else (
        torch.get_autocast_dtype("cuda") if torch.is_autocast_enabled() else torch.bfloat16)
    b, _, length, d = q.shape
    return tuple(t.transpose(1, 2).reshape(b * length, t.shape[1], d).to(dtype)
                 for t in (q, k, v))


def _unflat(out, q):
    b, h, length, d = q.shape
    return out.reshape(b, length, h, d).transpose(1, 2).to(q.dtype)


def _torch_varlen(q, k, v, segments: Segments) -> torch.Tensor:
    """torch's varlen flash attention, causal within each sample. Key/value heads come
    repeated to the query heads: the op documents (T, H, D) for all three."""
    from torch.nn.attention.varlen import varlen_attn

    cu, longest = segments.varlen()
    q_, k_, v_ = _flat_16bit(q, k, v)
    if _varlen_takes_is_causal(varlen_attn):  # torch 2.10
        out = varlen_attn(q_, k_, v_, cu, cu, longest, longest, is_causal=True)
    else:  # torch >= 2.11: causal is the window (-1, 0), a tuple compared by value
        out = varlen_attn(q_, k_, v_, cu, cu, longest, longest, window_size=(-1, 0))
    return _unflat(out, q)


_TAKES_IS_CAUSAL: dict = {}


def _varlen_takes_is_causal(fn) -> bool:
    if fn not in _TAKES_IS_CAUSAL:
        _TAKES_IS_CAUSAL[fn] = "is_causal" in inspect.signature(fn).parameters
    return _TAKES_IS_CAUSAL[fn]


_FLEX = None


def _compiled_flex():
    global _FLEX
    if _FLEX is None:
        from torch.nn.attention.flex_attention import flex_attention

        _FLEX = torch.compile(flex_attention, dynamic=False)
    return _FLEX


def choose_path(path: str = "auto", device: torch.device | str | None = None) -> str:
    """The kernel for ``path`` on ``device``; an error naming what is missing when an
    explicit choice cannot run here."""
    if path not in PATHS:
        raise ValueError(f"attention path {path!r}: choose from {', '.join(PATHS)}")
    device = torch.device(device) if device is not None else (
        torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
    cuda = device.type == "cuda"
    if path == "auto":
        if cuda and _torch_varlen_available(device):
            return "torch_varlen"
        return "flash_varlen" if cuda and _flash_attn_available() else "sdpa"
    if path == "torch_varlen" and not (cuda and _torch_varlen_available(device)):
        raise RuntimeError("attention path 'torch_varlen' needs torch >= 2.10 "
                           f"(this is {torch.__version__}) and a CUDA GPU of compute "
                           "capability 8.0 or newer; use 'sdpa' (every device) or 'auto'")
    if path == "flash_varlen" and not (cuda and _flash_attn_available()):
        raise RuntimeError("attention path 'flash_varlen' needs flash-attn and a CUDA "
                           "device; use 'sdpa' (every device) or 'auto'")
    if path == "flex" and not (cuda and _has_flex()):
        raise RuntimeError("attention path 'flex' needs torch >= 2.5 on a CUDA device; "
                           "use 'sdpa' (every device) or 'auto'")
    return path


def _torch_varlen_available(device: torch.device) -> bool:
    """torch has ``varlen_attn`` and the GPU is sm80+ (its flash kernels' floor)."""
    try:
        from torch.nn.attention.varlen import varlen_attn  # noqa: F401
    except ImportError:
        return False
    try:
        return torch.cuda.get_device_capability(device)[0] >= 8
    except (RuntimeError, AssertionError, ValueError):  # no driver, or not a CUDA device
        return False


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
