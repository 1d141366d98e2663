"""Which remote code a model folder (or hub cache entry) holds, read from its files.

``internlm/internlm2-chat-7b`` and ``-20b`` have carried two generations of
``modeling_internlm2.py``: the first (2024-01 to 2024-06; folders downloaded then, and
mirrors made from them) has a tuple KV cache and ``rotary_emb(x, seq_len)``; the second
(2024-07 on, the copy xtuner 0.2.0 ships in ``xtuner/_lite/modelings/internlm2/``) a
``Cache`` object and ``rotary_emb(x, position_ids)``. Where flash-attn is installed,
xtuner's dispatch replaces the attention forward with one that calls the second
generation's signature, so a first-generation folder fails before the first step
(InternLM/xtuner#791). The files are parsed, never imported.
"""

from __future__ import annotations

import ast
import json
from dataclasses import asdict, dataclass
from pathlib import Path

REMEDY = ("replace the folder's configuration_internlm2.py and modeling_internlm2.py with the "
          "second generation (huggingface-cli download internlm/internlm2-chat-7b "
          "configuration_internlm2.py modeling_internlm2.py --local-dir FOLDER, -20b likewise; "
          "the weights are the same), or pip uninstall flash-attn "
          "(docs/internlm2_generations.md)")
"""What to do with a first-generation folder where flash-attn is installed."""


@dataclass(frozen=True)
class RemoteCode:
    """What a model folder's remote code is."""

    family: str
    """``internlm2``, ``internlm`` (v1), or the config's ``model_type`` otherwise."""
    generation: int | None
    """InternLM2 only: 1 (2024-01 to 2024-06) or 2 (2024-07 on); None otherwise."""
    file: str | None
    """The modeling file its ``auto_map`` names (None: no remote code)."""
    text: str
    """In words, for the doctor's line."""

    def as_json(self) -> dict:
        return asdict(self)


def _rotary_args(tree: ast.Module) -> list[str] | None:
    """The arguments (after self) of the base ``*RotaryEmbedding`` class's ``forward``."""
    for node in tree.body:
        if (isinstance(node, ast.ClassDef) and node.name.endswith("RotaryEmbedding")
                and all(getattr(b, "attr", getattr(b, "id", "")) == "Module"
                        for b in node.bases)):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "forward":
                    return [a.arg for a in item.args.args[1:]]
    return None


def detect(folder: str | Path) -> RemoteCode | None:
    """The remote code of ``folder`` (with its ``config.json``), or None when there is no
    readable config. Raises nothing on odd files: an unreadable or unknown modeling file
    is said so in ``text``."""
    folder = Path(folder)
    try:
        config = json.loads((folder / "config.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    model_type = str(config.get("model_type", "?"))
    auto_map = config.get("auto_map") or {}
    target = auto_map.get("AutoModelForCausalLM") or auto_map.get("AutoModel")
    if not isinstance(target, str) or "." not in target:
        return RemoteCode(model_type, None, None, f"{model_type}, no remote code")
    file = target.rsplit(".", 1)[0].split("--")[-1] + ".py"
    if not (folder / file).is_file():
        return RemoteCode(model_type, None, file, f"{file} not there (yet)")
    try:
        tree = ast.parse((folder / file).read_text("utf-8"))
    except (OSError, SyntaxError, ValueError) as exc:
        return RemoteCode(model_type, None, file, f"{file} unreadable ({type(exc).__name__})")
    args = _rotary_args(tree)
    if model_type == "internlm2" and args and args[1:2] == ["seq_len"]:
        return RemoteCode("internlm2", 1, file, "InternLM2 remote code, first generation "
                          "(hub 2024-01 to 2024-06: tuple KV cache, rotary_emb(x, seq_len))")
    if model_type == "internlm2" and args and args[1:2] == ["position_ids"]:
        return RemoteCode("internlm2", 2, file, "InternLM2 remote code, second generation "
                          "(hub 2024-07 on, as xtuner ships: Cache, rotary_emb(x, "
                          "position_ids))")
    if model_type == "internlm" and args and args[1:2] == ["seq_len"]:
        return RemoteCode("internlm", None, file, "InternLM v1 remote code (tuple KV cache)")
    return RemoteCode(model_type, None, file,
                      f"{model_type} remote code {file}, not one this project has tested")


def flash_attn_dispatch() -> bool:
    """Whether xtuner will dispatch its flash-attention forwards: its own test
    (``is_flash_attn_2_available``: flash-attn installed and a CUDA device)."""
    try:
        from transformers.utils import is_flash_attn_2_available
    except ImportError:  # pragma: no cover
        return False
    return bool(is_flash_attn_2_available())
