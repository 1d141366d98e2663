"""Shared by the tests/test_law_*.py modules: where the statute corpus is (beside the
repository, ``../shared/statutes/lawrefbook``) and a small real index built from it."""

from pathlib import Path

import pytest

LAWREFBOOK = Path(__file__).resolve().parents[2] / "shared" / "statutes" / "lawrefbook"

SMALL_FILES = [
    "民法典/婚姻家庭编.md",
    "民法典/总则.md",
    "刑法/刑法.md",
    "经济法/会计法(2017-11-04).md",
    "经济法/会计法(2024-06-28).md",
    "社会法/妇女权益保障法(2018-10-26).md",
    "社会法/妇女权益保障法(2022-10-30).md",
    "民法商法/农民专业合作社法(2017-12-27).md",
    "司法解释/最高人民检察院关于适用刑法分则规定的犯罪的罪名的意见(1997-12-25).md",
]


def lawrefbook() -> Path:
    """The corpus folder, or a skip saying it is needed."""
    missing = [name for name in SMALL_FILES if not (LAWREFBOOK / name).is_file()]
    if missing:
        pytest.skip(f"{LAWREFBOOK}: {', '.join(missing)} not found: the law tests need "
                    "../shared/statutes/lawrefbook (the LawRefBook Markdown)")
    return LAWREFBOOK


def small_folder(tmp: Path) -> Path:
    """A copy of SMALL_FILES in their folders under ``tmp``: a real corpus of nine files."""
    root = lawrefbook()
    out = tmp / "lawrefbook"
    for name in SMALL_FILES:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes((root / name).read_bytes())
    return out


def small_index(tmp: Path) -> Path:
    """``legal-eagle law index`` of :func:`small_folder` under ``tmp``; its folder."""
    from legal_eagle_xtuner.cli import main

    out = tmp / "index"
    assert main(["law", "index", str(small_folder(tmp)), "-o", str(out), "--jobs", "1",
                 "--no-progress"]) == 0
    return out
