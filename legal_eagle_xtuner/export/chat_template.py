"""XTuner's prompt templates as Jinja chat templates, so that an engine serving the
model (vLLM, LMDeploy, SGLang, ``transformers``' ``apply_chat_template``) builds the
prompt the model was trained on, character for character.

XTuner writes a conversation as ``BOS + SYSTEM(system) + INSTRUCTION(q1) + a1 + SUFFIX
+ SEP + INSTRUCTION(q2) + ...`` in training (``template_map_fn`` + ``encode_fn``) and in
``xtuner chat``; for ``internlm2_chat`` that is ``<s><|im_start|>system\\n...<|im_end|>\\n
<|im_start|>user\\n...<|im_end|>\\n<|im_start|>assistant\\n``. The template below renders
exactly that: the system turn (a ``system`` message, else the default given here, the
legal system prompt of the configs), each user turn with XTuner's INSTRUCTION (which
already ends with the assistant's header, so ``add_generation_prompt`` adds nothing),
each assistant turn followed by SUFFIX and SEP. ``stop_words`` are the tokens training
ended every answer with (``<|im_end|>``, ``<eoa>``).
"""

from __future__ import annotations

import json

SUPPORTED = ("internlm2_chat", "internlm_chat")
"""The templates of our three configs; others would need their {round} handled."""


def _literal(text: str) -> str:
    """A Jinja string expression printing ``text`` exactly."""
    return "{{ " + json.dumps(text, ensure_ascii=False) + " }}"


def xtuner_template(name: str) -> dict:
    from xtuner.utils import PROMPT_TEMPLATE

    if name not in SUPPORTED:
        raise ValueError(f"prompt template {name!r}: exported chat templates exist for "
                         f"{', '.join(SUPPORTED)}")
    return dict(PROMPT_TEMPLATE[name])


def chat_template(name: str, default_system: str | None) -> str:
    """The Jinja chat template of XTuner's prompt template ``name``. A conversation
    without a ``system`` message gets ``default_system`` (None: no system turn)."""
    t = xtuner_template(name)
    sys_pre, sys_post = t["SYSTEM"].split("{system}")
    user_pre, user_post = t["INSTRUCTION"].split("{input}")
    after_answer = t.get("SUFFIX", "") + t.get("SEP", "")
    default = json.dumps(default_system, ensure_ascii=False) if default_system else "none"
    return (
        "{{ bos_token }}"
        "{% if messages and messages[0]['role'] == 'system' %}"
        "{% set system = messages[0]['content'] %}{% set turns = messages[1:] %}"
        f"{{% else %}}{{% set system = {default} %}}{{% set turns = messages %}}{{% endif %}}"
        f"{{% if system %}}{_literal(sys_pre)}{{{{ system }}}}{_literal(sys_post)}{{% endif %}}"
        "{% for message in turns %}"
        "{% if message['role'] == 'user' %}"
        f"{_literal(user_pre)}{{{{ message['content'] }}}}{_literal(user_post)}"
        "{% elif message['role'] == 'assistant' %}"
        f"{{{{ message['content'] }}}}{_literal(after_answer)}"
        "{% else %}{{ raise_exception('roles: one optional system message first, then "
        "user and assistant') }}"
        "{% endif %}{% endfor %}"
    )


def stop_words(name: str) -> list[str]:
    """What every trained answer ends with: where generation must stop."""
    return list(xtuner_template(name).get("STOP_WORDS", []))


def xtuner_prompt(name: str, turns: list[tuple[str, str | None]], system: str | None,
                  bos: str = "") -> str:
    """The text XTuner trains on and ``xtuner chat`` sends for ``turns`` ((question,
    answer) pairs; the last answer None for a prompt awaiting the model), built with
    XTuner's own ``template_map_fn`` and joined as its ``encode_fn`` joins the turns.
    The reference the exported template is tested against."""
    from mmengine.config import ConfigDict
    from xtuner.dataset.map_fns import template_map_fn

    template = ConfigDict(xtuner_template(name))
    conversation = []
    for i, (question, answer) in enumerate(turns):
        turn = {"input": question, "output": answer or ""}
        if i == 0 and system:
            turn["system"] = system
        conversation.append(turn)
    mapped = template_map_fn({"conversation": conversation}, template)["conversation"]
    text = bos
    for i, turn in enumerate(mapped):
        text += turn["input"]
        if turns[i][1] is None:
            break
        text += turn["output"] + turn.get("sep", "")
    return text
