"""The two sides of ``legal-eagle web``: a model behind an OpenAI-compatible server, or a
local model (plus adapter) run with ``transformers``; both stream an answer to a
conversation asked with the training prompt.

``NAME=SPEC`` where SPEC is ``http://host:8000/v1@model-name`` (vLLM, LMDeploy, SGLang:
the messages go out as chat messages, so the server's chat template -- the one
``legal-eagle export`` writes -- builds the prompt) or ``path/to/model`` with an optional
``+path/to/adapter`` (the prompt is built here with XTuner's template, as ``xtuner chat``
and ``eval generate`` build it). Generation is greedy by default and stops at the
template's stop words. Whatever goes wrong while answering is a :class:`ModelError`
whose text is one line for the page.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from legal_eagle_xtuner.export.chat_template import xtuner_prompt

__all__ = ["APIModel", "LocalModel", "ModelError", "Spec", "Stats", "load_model",
           "parse_spec", "rendered_prompt"]


class ModelError(Exception):
    """A spec that cannot be used or an answer that failed; one line for the user."""


@dataclass(frozen=True)
class Spec:
    """A parsed ``NAME=SPEC``."""

    name: str
    base_url: str | None = None
    api_model: str | None = None
    model: str | None = None
    adapter: str | None = None

    @property
    def is_api(self) -> bool:
        return self.base_url is not None


def parse_spec(text: str) -> Spec:
    """``NAME=http://host:port/v1@model`` or ``NAME=path/to/model[+path/to/adapter]``."""
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not name or not spec:
        raise ModelError(f"{text!r}: expected NAME=SPEC (NAME=http://host:8000/v1@model or "
                         "NAME=path/to/model[+path/to/adapter])")
    if spec.startswith(("http://", "https://")):
        url, at, model = spec.rpartition("@")
        if not at or not url or not model:
            raise ModelError(f"{text!r}: an endpoint is URL@MODEL, e.g. "
                             "http://127.0.0.1:8000/v1@legal")
        return Spec(name, base_url=url.rstrip("/"), api_model=model)
    model, adapter = spec, None
    if "+" in spec and not Path(spec).exists():
        model, adapter = spec.rsplit("+", 1)
    if not Path(model).is_dir():
        raise ModelError(f"{text!r}: {model}: no such model folder")
    if adapter is not None and not (Path(adapter) / "adapter_config.json").is_file():
        raise ModelError(f"{text!r}: {adapter}: not an adapter folder (no adapter_config.json)")
    return Spec(name, model=model, adapter=adapter)


@dataclass
class Stats:
    """How one answer was produced."""

    first_token_s: float | None = None
    """Seconds from the request to the first text."""
    seconds: float = 0.0
    """Seconds from the request to the end of the answer."""
    tokens: int = 0
    """Tokens generated (the server's count where it reports one)."""

    @property
    def tokens_per_s(self) -> float:
        decode = self.seconds - (self.first_token_s or 0.0)
        return (self.tokens - 1) / decode if self.tokens > 1 and decode > 0 else 0.0

    def line(self) -> str:
        first = "-" if self.first_token_s is None else f"{self.first_token_s:.2f} s"
        return (f"first token {first} · {self.tokens_per_s:.1f} tokens/s · "
                f"{self.tokens} tokens · {self.seconds:.2f} s")


def rendered_prompt(template: str, turns: list[tuple[str, str | None]], system: str | None,
                    bos: str = "") -> str:
    """The text the model receives for ``turns`` (the last answer None): XTuner's
    training prompt, which the exported chat template renders identically."""
    return xtuner_prompt(template, turns, system, bos)


class APIModel:
    """A model (or LoRA module) of an OpenAI-compatible server."""

    def __init__(self, spec: Spec, *, template: str, system: str | None,
                 max_new_tokens: int, temperature: float = 0.0, timeout: float = 120.0,
                 stop_words=(), turn_lock=None):
        import openai

        self.spec, self.template, self.system = spec, template, system
        self.turn_lock = turn_lock or contextlib.nullcontext()
        """Held while answering: a lock shared with the other side asks them in turn."""
        self.max_new_tokens, self.temperature = max_new_tokens, temperature
        self.stop_words = [w for w in stop_words if w]
        self.where = f"{spec.base_url} ({spec.api_model})"
        self.client = openai.OpenAI(base_url=spec.base_url, api_key="EMPTY",
                                    timeout=timeout, max_retries=0)

    def describe(self) -> str:
        return f"{self.spec.api_model} at {self.spec.base_url}"

    def prompt_text(self, turns) -> str:
        return rendered_prompt(self.template, turns, self.system)

    def _explain(self, exc: Exception) -> str:
        import openai

        where = self.spec.base_url
        if isinstance(exc, openai.APITimeoutError):
            return f"{where}: no answer within the timeout (the server is slow or hung)"
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return f"{where}: cannot reach the server ({type(cause).__name__}: {cause})"
        if isinstance(exc, openai.APIStatusError):
            body = exc.body.get("error", exc.body) if isinstance(exc.body, dict) else None
            message = (body.get("message") if isinstance(body, dict) else None) or exc.message
            if isinstance(exc, openai.NotFoundError):
                return f"{where}: {message} (is {self.spec.api_model!r} a model it serves?)"
            return f"{where}: the server answered {exc.status_code}: {message}"
        return f"{where}: {type(exc).__name__}: {exc}"

    def stream(self, turns, stats: Stats) -> Iterator[str]:
        """Yield the answer's text as it grows; ``stats`` is filled in on the way."""
        messages = [{"role": "system", "content": self.system or ""}]
        for question, answer in turns:
            messages.append({"role": "user", "content": question})
            if answer is not None:
                messages.append({"role": "assistant", "content": answer})
        with self.turn_lock:
            yield from self._stream(messages, stats)

    def _stream(self, messages, stats: Stats) -> Iterator[str]:
        start = time.perf_counter()
        text, pieces, usage = "", 0, None
        try:
            reply = self.client.chat.completions.create(
                model=self.spec.api_model, messages=messages, max_tokens=self.max_new_tokens,
                temperature=self.temperature, stop=self.stop_words or None, stream=True,
                stream_options={"include_usage": True})
            for chunk in reply:
                if chunk.usage is not None:
                    usage = chunk.usage.completion_tokens
                for choice in chunk.choices:
                    delta = choice.delta.content if choice.delta else None
                    if delta:
                        if stats.first_token_s is None:
                            stats.first_token_s = time.perf_counter() - start
                        pieces += 1
                        text += delta
                        stats.tokens = pieces
                        stats.seconds = time.perf_counter() - start
                        yield text
        except Exception as exc:  # noqa: BLE001 -- one line for the page, whatever it was
            raise ModelError(self._explain(exc)) from None
        stats.tokens = usage if usage is not None else pieces
        stats.seconds = time.perf_counter() - start
        yield text.strip()


class LocalModel:
    """A causal LM (plus PEFT adapter, merged) run here, streamed token by token."""

    def __init__(self, spec: Spec, *, template: str, system: str | None,
                 max_new_tokens: int, temperature: float = 0.0, stop_words=()):
        from legal_eagle_xtuner.eval.generate import GenerateError, HFGenerator

        self.spec, self.template, self.system = spec, template, system
        self.max_new_tokens, self.temperature = max_new_tokens, temperature
        try:
            self.hf = HFGenerator(spec.model, spec.adapter, stop_words=stop_words)
        except GenerateError as exc:
            raise ModelError(str(exc)) from None
        self._lock = threading.Lock()  # one generate at a time on this model

    def describe(self) -> str:
        adapter = f" + {self.spec.adapter}" if self.spec.adapter else ""
        return f"{self.spec.model}{adapter} on {self.hf.device}"

    def prompt_text(self, turns) -> str:
        # the tokenizer adds BOS, as it does for xtuner chat and eval generate
        return rendered_prompt(self.template, turns, self.system)

    def _final(self, ids: list[int]) -> str:
        hf = self.hf
        for i, token in enumerate(ids):
            if token in hf.stop_ids:
                ids = ids[:i]
                break
        text = hf.tokenizer.decode(ids, skip_special_tokens=True)
        for word in hf.stop_words:
            text = text.split(word, 1)[0]
        return text.strip()

    def stream(self, turns, stats: Stats) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        hf = self.hf
        ids: list[int] = []

        class Counting(TextIteratorStreamer):
            def put(self, value):
                if not self.next_tokens_are_prompt:
                    ids.extend(value.reshape(-1).tolist())
                super().put(value)

        start = time.perf_counter()
        batch = hf.tokenizer(self.prompt_text(turns), return_tensors="pt",
                             return_token_type_ids=False).to(hf.device)
        streamer = Counting(hf.tokenizer, skip_prompt=True, skip_special_tokens=True,
                            timeout=600)
        sampling = dict(do_sample=True, temperature=self.temperature, top_p=1.0) \
            if self.temperature > 0 else dict(do_sample=False)
        failure: list[str] = []

        def run():
            try:
                with self._lock, torch.inference_mode():
                    hf.model.generate(**batch, max_new_tokens=self.max_new_tokens,
                                      eos_token_id=sorted(hf.stop_ids), streamer=streamer,
                                      pad_token_id=hf.tokenizer.pad_token_id, **sampling)
            except Exception as exc:  # noqa: BLE001 -- shown in the column
                failure.append(f"{self.spec.model}: generation failed: "
                               f"{type(exc).__name__}: {exc}")
                streamer.end()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        text = ""
        for piece in streamer:
            if piece and stats.first_token_s is None:
                stats.first_token_s = time.perf_counter() - start
            text += piece
            stats.tokens = len(ids)
            stats.seconds = time.perf_counter() - start
            if piece:
                yield text
        worker.join()
        if failure:
            raise ModelError(failure[0])
        stats.tokens = len(ids)
        stats.seconds = time.perf_counter() - start
        yield self._final(ids)


def load_model(spec: Spec, **kwargs):
    """The side ``spec`` names; a local model is loaded now (errors: :class:`ModelError`)."""
    return (APIModel if spec.is_api else LocalModel)(spec, **kwargs)
