"""Evaluation generation through vLLM against HF batched generate: same model, same
prompts, greedy, one run, as a ratio.

    python benchmarks/serve_throughput.py                       # tiny model, CPU
    python benchmarks/serve_throughput.py --model out/merged --prompts 64 --max-new-tokens 128

The prompts are the packaged sample records' questions (repeated to --prompts), asked
with the legal system prompt through `legal-eagle eval generate`: once with --model
(HF generate, left-padded batches of --batch-size), once with --api-base against a
vLLM server this script starts (--vllm-python, default .venv-vllm; --concurrency
requests in flight). Server start-up is not timed. The last line is machine-readable:
    hf_tokens_per_s=... vllm_tokens_per_s=... ratio=... equal_answers=N/M
(answer tokens counted with the model's tokenizer; `equal_answers`: greedy answers
identical between the two).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _prompts_file(out: Path, n: int) -> Path:
    from legal_eagle_xtuner.resources import SAMPLES

    rows = [json.loads(line) for line in (SAMPLES / "disc_triplet.jsonl").read_text(
        "utf-8").splitlines() if line.strip()]
    records = [{**rows[i % len(rows)], "id": f"q{i}"} for i in range(n)]
    path = out / "prompts.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    return path


def _generate(args: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "legal_eagle_xtuner.cli", "eval", "generate",
                           *args, "--no-progress"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"eval generate failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def _start_vllm(python: Path, model: str, port: int, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    # vLLM's CPU engine binds one OpenMP thread per core and spins; left to itself on a
    # small machine it starves its own API server (measured: 1.5 tokens/s on 2 cores).
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) - 1)))
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    proc = subprocess.Popen(
        [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", model,
         "--served-model-name", "bench", "--trust-remote-code", "--host", "127.0.0.1",
         "--port", str(port), "--dtype", "float32", "--max-model-len", "2048"],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + 900
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5).read()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"vLLM did not start; see {log}")
            time.sleep(2)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder with a chat template (default: the "
                        "tiny InternLM2, exported with the training template)")
    parser.add_argument("--prompts", type=int, default=32, help="questions (default 32)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="default 64")
    parser.add_argument("--batch-size", type=int, default=8, help="HF batch (default 8)")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="vLLM requests in flight (default 16)")
    parser.add_argument("--vllm-python", type=Path, default=REPO / ".venv-vllm" / "bin" / "python")
    args = parser.parse_args(argv)
    if not args.vllm_python.exists():
        parser.error(f"--vllm-python {args.vllm_python}: not found (docs/serving.md installs it)")
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory(prefix="serve-throughput-") as tmp:
        tmp = Path(tmp)
        model = args.model or _tiny_with_template(tmp)
        data = _prompts_file(tmp, args.prompts)
        common = ["--prompt-template", "internlm2_chat", "--data", str(data), "--system",
                  "legal", "--max-new-tokens", str(args.max_new_tokens)]
        hf_s = _generate(["--model", model, "--torch-dtype", "fp32", "--batch-size",
                          str(args.batch_size), *common, "-o", str(tmp / "hf")])
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = _start_vllm(args.vllm_python, model, port, tmp / "vllm.log")
        try:
            vllm_s = _generate(["--api-base", f"http://127.0.0.1:{port}/v1", "--api-model",
                                "bench", "--concurrency", str(args.concurrency), *common,
                                "-o", str(tmp / "vllm")])
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=120)
        tok = AutoTokenizer.from_pretrained(model, trust_remote_code=True)
        hf, vl = (json.loads((tmp / d / "prompts.json").read_text("utf-8")) for d in ("hf", "vllm"))
        tokens = {name: sum(len(tok.encode(v["prediction"], add_special_tokens=False))
                            for v in run.values()) for name, run in (("hf", hf), ("vllm", vl))}
        equal = sum(hf[k]["prediction"] == vl[k]["prediction"] for k in hf)
    hf_rate, vllm_rate = tokens["hf"] / hf_s, tokens["vllm"] / vllm_s
    print(f"HF generate (batch {args.batch_size}): {args.prompts} answers, {tokens['hf']} "
          f"tokens in {hf_s:.1f} s (model load included)")
    print(f"vLLM (concurrency {args.concurrency}): {args.prompts} answers, {tokens['vllm']} "
          f"tokens in {vllm_s:.1f} s (server start-up excluded)")
    print(f"hf_tokens_per_s={hf_rate:.1f} vllm_tokens_per_s={vllm_rate:.1f} "
          f"ratio={vllm_rate / hf_rate:.2f} equal_answers={equal}/{len(hf)}")
    return 0


def _tiny_with_template(tmp: Path) -> str:
    """The tiny InternLM2 with the training template, as `legal-eagle export` writes it
    (an adapter that changes nothing: LoRA B starts at zero)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from legal_eagle_xtuner.demo.tiny import build_tiny_internlm2
    from legal_eagle_xtuner.export.merge import export

    base = build_tiny_internlm2()
    model = AutoModelForCausalLM.from_pretrained(str(base), trust_remote_code=True)
    get_peft_model(model, LoraConfig(r=4, target_modules=["wqkv"])).save_pretrained(
        str(tmp / "adapter"))
    from legal_eagle_xtuner.map_fns import LEGAL_SYSTEM

    export(tmp / "adapter", tmp / "model", base=str(base), prompt_template="internlm2_chat",
           system=LEGAL_SYSTEM, dtype="float32")
    return str(tmp / "model")


if __name__ == "__main__":
    sys.exit(main())
