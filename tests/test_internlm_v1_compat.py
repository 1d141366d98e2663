"""The compat shims (transformers, xtuner) found with InternLM v1's remote code: each fixes the
failing call and leaves code without the bug alone."""

import shutil
import subprocess
import sys

import pytest
import torch
from conftest import REPO

# InternLM PR #419 (Oct 2023) moved these lines of InternLMTokenizer.__init__
# from after super().__init__(...) to before it; undoing the move gives back the
# file older internlm-chat-7b snapshots ship.
_INIT_BLOCK = """        self.vocab_file = vocab_file
        self.add_bos_token = add_bos_token
        self.add_eos_token = add_eos_token
        self.decode_with_prefix_space = decode_with_prefix_space
        self.sp_model = spm.SentencePieceProcessor(**self.sp_model_kwargs)
        self.sp_model.Load(vocab_file)
        self._no_prefix_space_tokens = None
"""
_BASE_INIT_END = "            **kwargs,\n        )\n"


@pytest.fixture(scope="module")
def old_tokenizer_dir(tiny_internlm_v1, tmp_path_factory):
    """The tiny model's tokenizer files with the pre-#419 tokenization_internlm.py."""
    out = tmp_path_factory.mktemp("old-internlm-tokenizer") / "internlm-chat-7b-old"
    out.mkdir()
    for name in ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(tiny_internlm_v1 / name, out / name)
    src = (tiny_internlm_v1 / "tokenization_internlm.py").read_text("utf-8")
    assert src.count(_INIT_BLOCK) == 1, "the shared tokenizer code changed; update this test"
    src = src.replace(_INIT_BLOCK, "")
    end = src.index(_BASE_INIT_END, src.index("super().__init__(")) + len(_BASE_INIT_END)
    (out / "tokenization_internlm.py").write_text(src[:end] + _INIT_BLOCK + src[end:], "utf-8")
    return out


def _load_tokenizer(path, with_package: bool):
    code = ("import legal_eagle_xtuner\n" if with_package else "") + (
        "from transformers import AutoTokenizer\n"
        f"tok = AutoTokenizer.from_pretrained({str(path)!r}, trust_remote_code=True)\n"
        "print('IDS', tok.encode('<|User|>:请问离婚需要准备什么材料？<eoh>'), len(tok))\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=600)


def test_old_tokenizer_copy_fails_without_the_shim_and_loads_with_it(
        old_tokenizer_dir, tiny_internlm_v1):
    bare = _load_tokenizer(old_tokenizer_dir, with_package=False)
    assert bare.returncode != 0
    assert "AttributeError: InternLMTokenizer has no attribute vocab_size" in bare.stderr

    shimmed = _load_tokenizer(old_tokenizer_dir, with_package=True)
    assert shimmed.returncode == 0, shimmed.stderr[-3000:]
    assert f"{old_tokenizer_dir / 'tokenization_internlm.py'} predates transformers 4.34" \
        in shimmed.stderr
    current = _load_tokenizer(tiny_internlm_v1, with_package=True)
    assert current.returncode == 0, current.stderr[-3000:]
    assert "predates transformers" not in current.stderr  # the current file: no shim
    ids = [line for line in shimmed.stdout.splitlines() if line.startswith("IDS")]
    assert ids == [line for line in current.stdout.splitlines() if line.startswith("IDS")]
    assert ids[0].endswith(" 103168")


def test_tokenizer_shim_touches_only_outdated_internlm_tokenizers(tiny_internlm_v1):
    import transformers.dynamic_module_utils as dynamic
    from transformers import AutoTokenizer

    from legal_eagle_xtuner import compat

    assert dynamic.get_class_in_module.legal_eagle_shim  # applied on import
    assert compat.transformers._patch_internlm_v1_tokenizer_init() is False  # idempotent
    current = type(AutoTokenizer.from_pretrained(str(tiny_internlm_v1), trust_remote_code=True))
    assert compat.transformers._preload_sp_model(current) is False  # loads sp_model first: left alone
    assert not getattr(current, "_legal_eagle_sp_model_preload", False)

    class InternLMTokenizer:  # the old order
        def __init__(self, vocab_file, **kwargs):
            super().__init__()
            self.sp_model = None

    class OtherTokenizer:  # the same order, but not InternLM's
        def __init__(self, vocab_file, **kwargs):
            super().__init__()
            self.sp_model = None

    assert compat.transformers._preload_sp_model(OtherTokenizer) is False
    assert compat.transformers._preload_sp_model(InternLMTokenizer) is True
    assert compat.transformers._preload_sp_model(InternLMTokenizer) is False  # never wrapped twice


def test_varlen_attn_without_flash_attn_isolates_with_sdpa(tiny_internlm_v1):
    import legal_eagle_xtuner
    import xtuner.model.modules.dispatch as dispatch
    from mmengine.config import ConfigDict
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM

    from legal_eagle_xtuner.train.attention import attention_layers

    if dispatch.SUPPORT_FLASH2:
        pytest.skip("flash-attn is installed: XTuner's varlen attention is available")
    SupervisedFinetune = legal_eagle_xtuner.SupervisedFinetune
    llm = ConfigDict(type=AutoModelForCausalLM.from_pretrained,
                     pretrained_model_name_or_path=str(tiny_internlm_v1),
                     trust_remote_code=True, torch_dtype=torch.float32)
    lora = ConfigDict(type=LoraConfig, r=4, lora_alpha=8, lora_dropout=0.0, bias="none",
                      task_type="CAUSAL_LM")
    model = SupervisedFinetune(llm=llm, lora=lora, use_varlen_attn=True)
    layers = [m for m, _ in attention_layers(model)]
    assert len(layers) == 2  # the tiny model's two layers, both isolated with sdpa
    assert {m._legal_eagle_path for m in layers} == {"sdpa"}
    # without varlen the remote code's own attention, untouched
    model = SupervisedFinetune(llm=llm, lora=lora, use_varlen_attn=False)
    assert type(model.llm.base_model.model).__name__ == "InternLMForCausalLM"
    assert not any(hasattr(m, "_legal_eagle_forward") for m, _ in attention_layers(model))


def test_varlen_check_passes_through_where_xtuner_can_do_it(monkeypatch):
    import legal_eagle_xtuner
    import xtuner.model.modules.dispatch as dispatch
    import xtuner.model.sft as sft

    legal_eagle_xtuner.SupervisedFinetune  # applies the model shims
    assert sft.dispatch_modules.legal_eagle_shim
    model = torch.nn.Linear(2, 2)  # no attention module: XTuner's dispatch changes nothing
    sft.dispatch_modules(model, use_varlen_attn=False)
    monkeypatch.setattr(dispatch, "SUPPORT_FLASH2", True)
    sft.dispatch_modules(model, use_varlen_attn=True)  # flash-attn "available": no error
