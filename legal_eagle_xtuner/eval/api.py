"""Answers from an OpenAI-compatible server (vLLM, LMDeploy, SGLang ...): the
generator behind ``legal-eagle eval generate --api-base URL --api-model NAME``.

The items go out as chat messages -- the system turn (an empty one where the run has
none, which the exported chat template renders as no system turn) and the user turn --
so the server's chat template builds the prompt: serve a model exported by
``legal-eagle export`` (or an adapter with its ``chat_template.jinja``) and it is the
prompt ``eval generate`` writes as ``origin_prompt`` and XTuner trained on.
Requests run ``concurrency`` at a time through the ``openai`` client, which retries
timeouts, 429 and 5xx answers with exponential backoff (``max_retries``); what fails
after that is one line naming the server, and the prediction file keeps every answer
already written.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from legal_eagle_xtuner.eval.generate import GenerateError


class APIGenerator:
    """Answers batches of items through ``/v1/chat/completions``."""

    wants_messages = True
    """``generate_file`` hands it chat messages instead of prompt strings."""

    def __init__(self, base_url: str, model: str, *, concurrency: int = 8,
                 timeout: float = 600.0, max_retries: int = 4, api_key: str = "EMPTY",
                 stop_words=()):
        import openai

        self.base_url, self.model, self.concurrency = base_url, model, concurrency
        self.stop_words = [w for w in stop_words if w]
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout,
                                    max_retries=max_retries)
        served = self._served_models()
        if model not in served:
            raise GenerateError(f"{base_url}: serves no model {model!r}; it serves "
                                f"{', '.join(sorted(served)) or 'none'} (--api-model NAME)")

    def _served_models(self) -> set[str]:
        try:
            return {m.id for m in self.client.models.list()}
        except Exception as exc:  # noqa: BLE001 -- one line for the user, whatever it was
            raise GenerateError(self._explain(exc)) from None

    def _explain(self, exc: Exception) -> str:
        import openai

        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return (f"{self.base_url}: cannot reach the server ({type(cause).__name__}: "
                    f"{cause}); is it running, and is --api-base its /v1 address?")
        if isinstance(exc, openai.NotFoundError):
            return f"{self.base_url}: {exc.message} (model {self.model!r}?)"
        if isinstance(exc, openai.APIStatusError):
            return f"{self.base_url}: the server answered {exc.status_code}: {exc.message}"
        return f"{self.base_url}: {type(exc).__name__}: {exc}"

    def prompt_length(self, prompt) -> int:
        return len(prompt) if isinstance(prompt, str) else sum(len(m["content"]) for m in prompt)

    def _ask(self, messages, max_new_tokens: int, temperature: float) -> str:
        try:
            reply = self.client.chat.completions.create(
                model=self.model, messages=messages, max_tokens=max_new_tokens,
                temperature=temperature, stop=self.stop_words or None)
        except Exception as exc:  # noqa: BLE001
            raise GenerateError(self._explain(exc)) from None
        return (reply.choices[0].message.content or "").strip()

    def __call__(self, conversations: list, *, max_new_tokens: int,
                 temperature: float = 0.0) -> list[str]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda m: self._ask(m, max_new_tokens, temperature),
                                 conversations))


def chat_messages(user: str, system: str | None) -> list[dict]:
    """The item as chat messages; an explicit empty system turn where it has none."""
    return [{"role": "system", "content": system or ""}, {"role": "user", "content": user}]
