"""The legal sources, one module each (``disc``, ``lawgpt``, ``conversation``), and how a
record of any of them is detected, checked and converted (``detect``, ``convert``).
Imports only ``sources`` itself (and xtuner's system prompt, cn2an for article numbers)."""

from legal_eagle_xtuner.sources.base import (
    LEGAL_SYSTEM,
    REFERENCE_HEADING,
    REFERENCE_PLACEMENTS,
    Source,
    format_record_ref,
)
from legal_eagle_xtuner.sources.conversation import (
    CONVERSATION,
    check_conversation,
    split_reference_block,
)
from legal_eagle_xtuner.sources.convert import (
    ID_AS_TEXT,
    NO_REFERENCES,
    Converted,
    RecordError,
    check_source,
    convert_record,
    output_record,
    to_conversation,
)
from legal_eagle_xtuner.sources.detect import (
    SOURCE_FIELDS,
    SOURCE_SPECS,
    Detection,
    detect_source,
    explain_source,
    question_text,
    record_source,
    stratum,
)
from legal_eagle_xtuner.sources.disc import disc_task
from legal_eagle_xtuner.sources.references import normalize_references

__all__ = [
    "CONVERSATION", "Converted", "Detection", "ID_AS_TEXT", "LEGAL_SYSTEM", "NO_REFERENCES",
    "REFERENCE_HEADING", "REFERENCE_PLACEMENTS", "RecordError", "SOURCE_FIELDS", "SOURCE_SPECS",
    "Source", "check_conversation", "check_source", "convert_record", "detect_source",
    "disc_task", "explain_source", "format_record_ref", "normalize_references",
    "output_record", "question_text", "record_source", "split_reference_block", "stratum",
    "to_conversation",
]
