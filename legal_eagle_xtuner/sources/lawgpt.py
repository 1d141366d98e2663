"""LAW-GPT (LiuHC0428/LAW-GPT): the 52k CrimeKgAssitant Q&A and the 92k Q&A
with the law references of each answer."""

from __future__ import annotations

from legal_eagle_xtuner.sources.base import Source

__all__ = ["LAWGPT_52K", "LAWGPT_92K"]

LAWGPT_52K = Source(
    name="lawgpt_52k",
    corpus="LAW-GPT ``CrimeKgAssitant清洗后_52k.json``",
    fields=("input", "output"),
    question="input",
    answer="output",
)

LAWGPT_92K = Source(
    name="lawgpt_92k",
    corpus="LAW-GPT ``训练数据_带法律依据_92k.json``",
    fields=("question", "answer", "reference"),
    question="question",
    answer="answer",
    reference="reference",
)
