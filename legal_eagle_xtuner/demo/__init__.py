"""``legal-eagle demo``: the whole train -> convert -> chat path, offline, on CPU.

It builds (or reuses) a tiny random InternLM2, trains a LoRA adapter on the
packaged sample records of all four source formats with XTuner's own training
entry, converts the last checkpoint with XTuner's ``pth_to_hf`` (safetensors) and
asks one legal question through XTuner's chat tool with the adapter. Each step is
a subprocess running exactly the module the ``xtuner`` CLI would run, checked by
its exit status *and* by the files it must leave behind.

Imports the stages below it (sources, data, train, eval); only the CLI imports demo.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from legal_eagle_xtuner.resources import SAMPLES

CONFIG = Path(__file__).with_name("tiny_internlm2_demo.py")
SAMPLE_FILES = {
    "disc_pair.jsonl": SAMPLES / "disc_pair.jsonl",
    "disc_triplet.jsonl": SAMPLES / "disc_triplet.jsonl",
    "lawgpt_52k.json": SAMPLES / "lawgpt_52k.json",
    "lawgpt_92k.json": SAMPLES / "lawgpt_92k.json",
}
QUESTION = "请问离婚需要准备什么材料？"

_ITER = re.compile(r"Iter\(train\)\s*\[\s*(\d+)/(\d+)\]")
_LOSS = re.compile(r"\bloss: ([0-9.]+)")


class StepFailed(RuntimeError):
    """A demo step exited non-zero or left no artefact; the message says which."""


@dataclass
class DemoResult:
    """What the demo produced and measured."""

    model_dir: Path
    """The tiny base model used."""
    config: Path
    """The derived training config."""
    checkpoint: Path
    """The last ``iter_N.pth`` written by training."""
    adapter_dir: Path
    """The converted PEFT adapter (safetensors)."""
    losses: list[float]
    """Training loss per logged iteration, in order."""
    answer: str
    """The chat tool's answer to :data:`QUESTION`."""
    seconds: float
    """Wall time of the whole demo."""


def _run(cmd: list[str], log: Path, *, stdin: str | None = None,
         progress: str | None = None) -> str:
    """Run ``cmd`` and return its standard output. Both streams are written to
    ``log``; with ``progress``, a tqdm bar follows mmengine's ``Iter(train) [i/N]``
    lines (mmengine logs to stdout)."""
    bar = None
    out: list[str] = []
    # The demo is offline by design: everything it loads is local.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    with open(log, "w", encoding="utf-8") as fh, subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=fh,
        text=True,
        encoding="utf-8",
        errors="replace",
    ) as proc:
        if stdin is not None:
            proc.stdin.write(stdin)
            proc.stdin.close()
        for line in proc.stdout:
            fh.write(line)
            fh.flush()
            out.append(line)
            if progress and (m := _ITER.search(line)):
                if bar is None:
                    bar = tqdm(total=int(m.group(2)), desc=progress, unit="it")
                bar.n = int(m.group(1))
                if loss := _LOSS.search(line):
                    bar.set_postfix(loss=loss.group(1), refresh=False)
                bar.refresh()
        proc.wait()
    if bar is not None:
        bar.close()
    if proc.returncode != 0:
        tail = "".join(log.read_text(encoding="utf-8", errors="replace")
                       .splitlines(keepends=True)[-15:])
        raise StepFailed(
            f"{' '.join(cmd[:4])} ... exited with {proc.returncode}; "
            f"full log: {log}\n{tail}"
        )
    return "".join(out)


def _losses(work_dir: Path) -> list[float]:
    """Training losses from the run's scalar log (mmengine LocalVisBackend)."""
    logs = sorted(work_dir.glob("*/vis_data/scalars.json"))
    if not logs:
        return []
    losses = []
    for line in logs[-1].read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if "loss" in row:
            losses.append(float(row["loss"]))
    return losses


def _curves(train_dir: Path, out: Path) -> str:
    """Validation loss in words and the curves drawn to ``out`` (what
    ``legal-eagle plot`` does)."""
    from legal_eagle_xtuner.train.plot import PlotError, plot_run, read_scalars

    try:
        run = read_scalars(train_dir)
    except PlotError:
        return ""
    plot_run(run, out, title="legal-eagle demo (tiny random InternLM2)")
    val = run.val.get("val_loss", [])
    said = ""
    if val:
        best_step, best = min(val, key=lambda point: (point[1], point[0]))
        said = (f"val_loss {val[0][1]:.3f} -> {val[-1][1]:.3f} over {len(val)} validations "
                f"(best {best:.3f} at iteration {best_step}); ")
    return f"{said}curves: {out}"


END_OF_TURN = ("<|im_end|>", "<eoa>")
"""InternLM2's and InternLM v1's end-of-turn tokens: the chat tool prints the stop
token and then its own messages on the same stream."""


def _answer(chat_output: str) -> str:
    """The bot's reply in the chat tool's transcript: the text between the
    prompt the tool echoes back and its next input prompt, up to the end-of-turn token."""
    parts = chat_output.split("double enter to end input")
    if len(parts) < 3:
        return ""
    reply = parts[1].split(">>>", 1)[-1]
    for token in END_OF_TURN:
        reply = reply.split(token, 1)[0]
    return reply.strip()


def run_demo(work_dir: str | Path = "legal-eagle-demo", max_new_tokens: int = 48,
             echo=print) -> DemoResult:
    """Run the demo in ``work_dir`` and return what it did."""
    from legal_eagle_xtuner.train.smoke import SmokeOverrides, derive_smoke_config
    from legal_eagle_xtuner.demo.tiny import build_tiny_internlm2

    start = time.time()
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    python = sys.executable

    echo("[1/4] tiny InternLM2 (random weights, tokenizer trained on the samples)")
    model_dir = build_tiny_internlm2()
    echo(f"      {model_dir}")

    config = derive_smoke_config(
        CONFIG,
        work_dir / "demo_config.py",
        SmokeOverrides(
            model_path=str(model_dir),
            data_files={k: str(v) for k, v in SAMPLE_FILES.items()},
        ),
    )
    train_dir = work_dir / "train"
    echo(f"[2/4] xtuner train {config.name}  (samples: {', '.join(SAMPLE_FILES)})")
    _run(
        [python, "-m", "xtuner.tools.train", str(config), "--work-dir", str(train_dir)],
        work_dir / "train.log",
        progress="      training",
    )
    last = train_dir / "last_checkpoint"
    if not last.is_file():
        raise StepFailed(f"training wrote no checkpoint; see {work_dir / 'train.log'}")
    checkpoint = Path(last.read_text(encoding="utf-8").strip())
    losses = _losses(train_dir)
    if losses:
        echo(f"      loss {losses[0]:.3f} -> {losses[-1]:.3f} over {len(losses)} "
             f"iterations; checkpoint {checkpoint.name}")
    curves = _curves(train_dir, work_dir / "loss.png")
    if curves:
        echo(f"      {curves}")

    adapter_dir = work_dir / "adapter"
    echo(f"[3/4] xtuner convert pth_to_hf {checkpoint.name} -> {adapter_dir}")
    _run(
        [python, "-m", "xtuner.tools.model_converters.pth_to_hf", str(config),
         str(checkpoint), str(adapter_dir), "--safe-serialization"],
        work_dir / "convert.log",
    )
    if not (adapter_dir / "adapter_config.json").is_file() or not (
        adapter_dir / "adapter_model.safetensors"
    ).is_file():
        raise StepFailed(f"pth_to_hf wrote no safetensors adapter in {adapter_dir}")
    # the training prompt beside the adapter, for engines that serve it as LoRA
    from legal_eagle_xtuner.export.chat_template import chat_template
    from legal_eagle_xtuner.export.merge import write_template
    from legal_eagle_xtuner.map_fns import LEGAL_SYSTEM

    write_template(adapter_dir, chat_template("internlm2_chat", LEGAL_SYSTEM))

    echo(f"[4/4] xtuner chat --adapter adapter: {QUESTION}")
    chat = _run(
        [python, "-m", "xtuner.tools.chat", str(model_dir), "--adapter",
         str(adapter_dir), "--prompt-template", "internlm2_chat",
         "--system-template", "lawyer", "--torch-dtype", "fp32", "--no-streamer",
         "--max-new-tokens", str(max_new_tokens)],
        work_dir / "chat.log",
        stdin=f"{QUESTION}\n\nEXIT\n\n",
    )
    answer = _answer(chat)
    echo(f"      answer (a random tiny model, so expect noise): {answer[:80]!r}")
    return DemoResult(model_dir, config, checkpoint, adapter_dir, losses, answer,
                      time.time() - start)
