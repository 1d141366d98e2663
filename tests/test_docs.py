"""The README and docs/*.md say only what is true of this repository.

Every command in a ```bash block is checked without running it: ``legal-eagle``
commands are parsed by the real argument parser; ``xtuner`` commands and
``python benchmarks/...`` scripts must name files that exist and use only the
flags (and choice values) their ``--help`` lists, with the right number of
positional arguments. Every repository path, bare file name and
``legal_eagle_xtuner.…`` module named in the pages must exist, links must resolve,
the package tree in the README must match the package, every docs page must be
linked from the README, and the README stays short.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import importlib.util
import io
import os
import re
import shlex
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [README, *DOCS]
PACKAGE = REPO / "legal_eagle_xtuner"
MAX_README_LINES = 250

# The xtuner CLI's subcommands and the modules it runs (xtuner/entry_point.py).
XTUNER_MODULES = {
    ("train",): "xtuner.tools.train",
    ("convert", "pth_to_hf"): "xtuner.tools.model_converters.pth_to_hf",
    ("chat",): "xtuner.tools.chat",
}
# Programs the docs may use that these tests do not check further.
UNCHECKED_PROGRAMS = {"mkdir", "huggingface-cli", "git", "tensorboard", "export",
                      "modelscope", "cd", "ls", "cp", "apt-get"}
PLACEHOLDER = re.compile(r"<[^<>\s]+>|…|\.\.\.")
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
REPO_PATH = re.compile(
    r"(?<![\w./-])((?:legal_eagle_xtuner|configs|benchmarks|docs|tests|\.ci)/[\w./*-]*)")
BARE_FILE = re.compile(r"(?<![\w./-])([A-Za-z_][\w-]*\.py)\b")
OUR_MODULE = re.compile(r"(?<![\w.])(legal_eagle_xtuner(?:\.\w+)+)")
XTUNER_MODULE = re.compile(r"(?<![\w./-])(xtuner(?:\.\w+)+)")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
INLINE_CODE = re.compile(r"`([^`]+)`")
HELP_ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


# --------------------------------------------------------------------------- #
# Reading the pages
# --------------------------------------------------------------------------- #

@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # line of the opening fence
    lang: str
    text: str


@dataclass(frozen=True)
class Command:
    page: Path
    line: int
    block_line: int
    text: str  # the logical line as written (continuations joined)
    argv: tuple[str, ...]  # one simple command: env assignments dropped

    def where(self) -> str:
        return f"{rel(self.page)}:{self.line}: {self.text!r}"


def fenced_blocks(page: Path) -> list[Block]:
    blocks, lang, start, body = [], None, 0, []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("```"):
            if lang is None:
                lang, start, body = line.strip()[3:].strip(), number, []
            else:
                blocks.append(Block(page, start, lang, "\n".join(body)))
                lang = None
        elif lang is not None:
            body.append(line)
    assert lang is None, f"{rel(page)}:{start}: fenced block never closed"
    return blocks


def prose(page: Path) -> str:
    """The page without its fenced blocks."""
    out, fenced = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            out.append(line)
    return "\n".join(out)


def logical_lines(block: Block):
    """(line number, text) with ``\\`` continuations joined."""
    pending, first = "", 0
    for offset, line in enumerate(block.text.splitlines(), 1):
        if not pending:
            first = block.line + offset
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        yield first, pending + line
        pending = ""
    if pending:
        yield first, pending


def split_commands(tokens: list[str]) -> list[list[str]]:
    parts, current = [], []
    for token in tokens:
        if token in ("&&", "||", ";", "|"):
            parts.append(current)
            current = []
        else:
            current.append(token)
    parts.append(current)
    return [p for p in parts if p]


def bash_commands() -> list[Command]:
    commands = []
    for page in PAGES:
        for block in fenced_blocks(page):
            if block.lang not in ("bash", "sh", "shell", "console"):
                continue
            for line, text in logical_lines(block):
                tokens = shlex.split(text, comments=True)
                for argv in split_commands(tokens):
                    while argv and ENV_ASSIGNMENT.match(argv[0]):
                        argv = argv[1:]
                    if argv:
                        commands.append(Command(page, line, block.line,
                                                " ".join(text.split()), tuple(argv)))
    return commands


COMMANDS = bash_commands()


def program(cmd: Command) -> str:
    return Path(cmd.argv[0]).name


def of_kind(*names: str) -> list[Command]:
    return [c for c in COMMANDS if program(c) in names]


def ids(commands):
    return [f"{rel(c.page)}:{c.line}:{c.argv[0]}" for c in commands]


# --------------------------------------------------------------------------- #
# --help of xtuner's tools and of the benchmark scripts, run once, in parallel
# --------------------------------------------------------------------------- #

@dataclass
class Help:
    text: str
    options: dict[str, str]  # flag -> "flag" (no value), "value", "values" (nargs +/*)
    choices: dict[str, set[str]]
    positionals: list[str]


def parse_help(text: str) -> Help:
    options: dict[str, str] = {}
    choices: dict[str, set[str]] = {}
    positionals: list[str] = []
    section = None
    for line in text.splitlines():
        if re.match(r"^\S.*:$", line):
            section = line.rstrip(":").strip()
            continue
        m = re.match(r"^ {2}(\S.*?)(?: {2,}.*)?$", line)
        if not m:
            continue
        spec = m.group(1)
        if section == "positional arguments":
            positionals.append(spec.split()[0])
        elif section in ("options", "optional arguments") or (
                section and re.match(r"--?[A-Za-z]", spec)):  # argument groups
            for variant in spec.split(", "):
                parts = variant.split(" ", 1)
                if not parts[0].startswith("-"):
                    continue
                flag, metavar = parts[0], parts[1] if len(parts) > 1 else ""
                options[flag] = ("values" if "..." in metavar
                                 else "value" if metavar else "flag")
                if metavar.startswith("{"):
                    choices[flag] = set(metavar[1:metavar.index("}")].split(","))
    return Help(text, options, choices, positionals)


def _help_targets() -> dict[str, list[str]]:
    targets = {module: [sys.executable, "-m", module, "--help"]
               for module in XTUNER_MODULES.values()}
    for cmd in of_kind("python", "python3", "python3.11"):
        if len(cmd.argv) > 1 and cmd.argv[1].startswith("benchmarks/"):
            script = cmd.argv[1]
            if (REPO / script).is_file():
                targets[script] = [sys.executable, str(REPO / script), "--help"]
                sub = _subcommand(script, cmd.argv[2:])
                if sub:  # `script SUB ...`: SUB's own --help lists its options
                    targets[f"{script} {sub}"] = [sys.executable, str(REPO / script), sub,
                                                  "--help"]
    return targets


def _subcommand(script: str, args) -> str | None:
    """The subcommand a benchmarks script is called with, read from its argparse
    sub-parsers (``add_parser("NAME"``), or None for a script without them."""
    names = re.findall(r'add_parser\(\s*"([\w-]+)"', (REPO / script).read_text("utf-8"))
    return args[0] if names and args and args[0] in names else None


@functools.lru_cache(maxsize=None)
def helps() -> dict[str, Help | str]:
    """``--help`` of each tool, or the error text if it failed."""
    procs = {name: subprocess.Popen(argv, cwd=REPO, env=HELP_ENV, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name, argv in _help_targets().items()}
    out: dict[str, Help | str] = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        out[name] = (parse_help(stdout) if proc.returncode == 0
                     else f"{name} --help exited {proc.returncode}:\n{stderr[-2000:]}")
    return out


def tool_help(name: str) -> Help:
    result = helps()[name]
    if isinstance(result, str):
        pytest.fail(result)
    return result


def check_against_help(cmd: Command, tool: str, args: list[str]) -> list[str]:
    """Check flags, choice values and positional count; return the positionals."""
    help_ = tool_help(tool)
    positionals: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if token.startswith("-") and token != "-":
            flag, eq, inline = token.partition("=")
            assert flag in help_.options, (
                f"{cmd.where()}: {tool} has no option {flag} "
                f"(its --help lists {', '.join(sorted(help_.options))})")
            kind = help_.options[flag]
            values: list[str] = []
            if eq:
                values = [inline]
            elif kind == "value":
                assert i + 1 < len(args), f"{cmd.where()}: {flag} needs a value"
                values = [args[i + 1]]
                i += 1
            elif kind == "values":
                while i + 1 < len(args) and not args[i + 1].startswith("-"):
                    values.append(args[i + 1])
                    i += 1
                assert values, f"{cmd.where()}: {flag} needs at least one value"
            if flag in help_.choices:
                for value in values:
                    assert value in help_.choices[flag], (
                        f"{cmd.where()}: {flag} {value!r} is not one of "
                        f"{sorted(help_.choices[flag])}")
        else:
            positionals.append(token)
        i += 1
    assert len(positionals) == len(help_.positionals), (
        f"{cmd.where()}: {tool} takes {len(help_.positionals)} positional argument(s) "
        f"({' '.join(help_.positionals) or 'none'}), the command gives "
        f"{len(positionals)}: {positionals}")
    return positionals


def outputs_before(cmd: Command) -> set[str]:
    """Files written (-o/--output) by earlier commands of the same block."""
    out = set()
    for other in COMMANDS:
        if (other.page, other.block_line) == (cmd.page, cmd.block_line) and other.line < cmd.line:
            for flag, value in zip(other.argv, other.argv[1:]):
                if flag in ("-o", "--output"):
                    out.add(value)
    return out


def check_repo_paths(cmd: Command) -> None:
    for token in cmd.argv:
        for path in REPO_PATH.findall(token):
            assert list(REPO.glob(path.rstrip("/"))), (
                f"{cmd.where()}: {path} does not exist in the repository")


# --------------------------------------------------------------------------- #
# The commands
# --------------------------------------------------------------------------- #

def test_commands_were_found():
    """Guard the extractor: the pages hold many commands of each checked kind."""
    assert len(of_kind("legal-eagle")) >= 12, ids(of_kind("legal-eagle"))
    assert len(of_kind("xtuner")) >= 6, ids(of_kind("xtuner"))
    assert any(c.argv[1:2] and c.argv[1].startswith("benchmarks/")
               for c in of_kind("python")), "no python benchmarks/... command found"


@pytest.mark.parametrize("cmd", COMMANDS, ids=ids(COMMANDS))
def test_command_is_concrete_and_known(cmd):
    for token in cmd.argv:
        assert not PLACEHOLDER.search(token), (
            f"{cmd.where()}: placeholder {token!r}; write a command that runs as written")
    known = {"legal-eagle", "xtuner", "python", "python3", "python3.11", "pip", "bash"}
    assert program(cmd) in known | UNCHECKED_PROGRAMS, (
        f"{cmd.where()}: {cmd.argv[0]} is not a program tests/test_docs.py knows; "
        "teach it how to check the command")
    check_repo_paths(cmd)


BASH = of_kind("bash")


@pytest.mark.parametrize("cmd", BASH, ids=ids(BASH))
def test_bash_runs_a_script_of_ours_with_the_arguments_it_takes(cmd):
    """`bash benchmarks/X.sh ARGS`: the script exists and takes that many positional
    arguments, as its own usage line (`#   bash benchmarks/X.sh [A] [B] ...`) says."""
    script = cmd.argv[1]
    assert script.startswith("benchmarks/") and script.endswith(".sh"), (
        f"{cmd.where()}: bash runs only our benchmarks/*.sh scripts in the docs")
    text = (REPO / script).read_text(encoding="utf-8")
    usage = re.search(rf"^#\s+bash {re.escape(script)}((?: \[?[A-Z_]+\]?)*)", text, re.M)
    assert usage, f"{script} has no '#   bash {script} ...' usage line"
    positional = [a for a in cmd.argv[2:] if a != "--"]
    if "--" in cmd.argv:
        positional = cmd.argv[2:cmd.argv.index("--")]
    assert len(positional) <= len(usage.group(1).split()), (
        f"{cmd.where()}: {script} takes {usage.group(1).strip()}")


@functools.lru_cache(maxsize=None)
def cli_parser():
    from legal_eagle_xtuner.cli import build_parser

    return build_parser()


LEGAL_EAGLE = of_kind("legal-eagle")


@pytest.mark.parametrize("cmd", LEGAL_EAGLE, ids=ids(LEGAL_EAGLE))
def test_legal_eagle_command_parses(cmd):
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            args = cli_parser().parse_args(list(cmd.argv[1:]))
    except SystemExit as exc:
        pytest.fail(f"{cmd.where()}: legal-eagle rejects it (exit {exc.code}): "
                    f"{stderr.getvalue().strip()}")
    assert callable(getattr(args, "func", None)), (
        f"{cmd.where()}: parsed, but names no command to run")
    if cmd.argv[1] == "smoke-config":
        assert (REPO / args.config).is_file(), f"{cmd.where()}: no config {args.config}"


XTUNER = of_kind("xtuner")


def xtuner_tool(cmd: Command) -> tuple[str, list[str]]:
    argv = list(cmd.argv[1:])
    for words, module in XTUNER_MODULES.items():
        if tuple(argv[:len(words)]) == words:
            return module, argv[len(words):]
    pytest.fail(f"{cmd.where()}: xtuner {' '.join(argv[:2])} is not one of "
                f"{[' '.join(w) for w in XTUNER_MODULES]} (tests/test_docs.py checks those)")


def check_config_arg(cmd: Command, config: str) -> None:
    if config.startswith("configs/") or config not in outputs_before(cmd):
        assert (REPO / config).is_file(), (
            f"{cmd.where()}: config {config} is neither in the repository nor "
            "written by an earlier command of the same block")


@pytest.mark.parametrize("cmd", XTUNER, ids=ids(XTUNER))
def test_xtuner_command(cmd):
    module, args = xtuner_tool(cmd)
    positionals = check_against_help(cmd, module, args)
    if module != "xtuner.tools.chat":
        check_config_arg(cmd, positionals[0])


PYTHON = of_kind("python", "python3", "python3.11")


@pytest.mark.parametrize("cmd", PYTHON, ids=ids(PYTHON))
def test_python_command(cmd):
    args = list(cmd.argv[1:])
    assert args, f"{cmd.where()}: bare python"
    if args[0] == "-m":
        module, rest = args[1], args[2:]
        if module in XTUNER_MODULES.values():
            check_config_arg(cmd, check_against_help(cmd, module, rest)[0])
        elif module == "pytest":
            skip_next = False
            for token in rest:
                if skip_next or token.startswith("-"):
                    skip_next = token in ("-p", "-k", "-m")
                    continue
                assert (REPO / token.split("::")[0]).exists(), (
                    f"{cmd.where()}: no test path {token}")
        elif module == "venv":
            pass
        else:
            pytest.fail(f"{cmd.where()}: python -m {module} is not checked by "
                        "tests/test_docs.py; teach it")
    else:
        script = args[0]
        assert script.startswith("benchmarks/"), (
            f"{cmd.where()}: python {script}: only benchmarks/ scripts are checked")
        assert (REPO / script).is_file(), f"{cmd.where()}: no script {script}"
        sub = _subcommand(script, args[1:])
        if sub:
            check_against_help(cmd, f"{script} {sub}", args[2:])
        else:
            check_against_help(cmd, script, args[1:])


def declared_extras() -> set[str]:
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "extras_require":
            return {k.value for k in node.value.keys}
    return set()


PIP = of_kind("pip")


@pytest.mark.parametrize("cmd", PIP, ids=ids(PIP))
def test_pip_extras_exist(cmd):
    for token in cmd.argv:
        m = re.fullmatch(r"\.\[([\w,-]+)\]", token)
        if m:
            missing = set(m.group(1).split(",")) - declared_extras()
            assert not missing, f"{cmd.where()}: setup.py has no extra {sorted(missing)}"


# --------------------------------------------------------------------------- #
# Paths, modules, links
# --------------------------------------------------------------------------- #

def code_spans(page: Path) -> list[str]:
    spans = INLINE_CODE.findall(prose(page))
    return spans + [b.text for b in fenced_blocks(page) if b.lang in ("bash", "text")]


@functools.lru_cache(maxsize=None)
def repo_basenames() -> set[str]:
    skip = {".venv", ".git", "build", "__pycache__", "legal_eagle_xtuner.egg-info"}
    names = set()
    for root, dirs, files in os.walk(REPO, followlinks=True):
        dirs[:] = [d for d in dirs if d not in skip]
        names.update(files)
    return names


@pytest.mark.parametrize("page", PAGES, ids=[rel(p) for p in PAGES])
def test_named_paths_exist(page):
    missing = []
    for span in code_spans(page):
        for path in REPO_PATH.findall(span):
            path = path.rstrip(".")
            if not list(REPO.glob(path.rstrip("/"))):
                missing.append(path)
    for span in INLINE_CODE.findall(prose(page)):
        for name in BARE_FILE.findall(span):
            if name not in repo_basenames():
                missing.append(name)
    assert not missing, f"{rel(page)} names files that do not exist: {sorted(set(missing))}"


def resolves(name: str) -> bool:
    """A module, or an attribute of one (``legal_eagle_xtuner.LEGAL_SYSTEM``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if importlib.util.find_spec(name) is not None:
                return True
        except (ImportError, ValueError):
            pass
        parent, _, attr = name.rpartition(".")
        try:
            return hasattr(importlib.import_module(parent), attr)
        except ImportError:
            return False


@pytest.mark.parametrize("page", PAGES, ids=[rel(p) for p in PAGES])
def test_named_modules_exist(page):
    text = page.read_text(encoding="utf-8")
    names = set(OUR_MODULE.findall(text))
    for span in code_spans(page):
        names.update(XTUNER_MODULE.findall(span))
    broken = sorted(n for n in names if not resolves(n))
    assert not broken, f"{rel(page)} names modules that cannot be imported: {broken}"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"`", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", prose(page), re.M)}


@pytest.mark.parametrize("page", PAGES, ids=[rel(p) for p in PAGES])
def test_links_resolve(page):
    broken = []
    for target in LINK.findall(prose(page)):
        if re.match(r"^[a-z]+://|^mailto:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {rel(dest)})")
    assert not broken, f"{rel(page)}: broken links: {broken}"


# --------------------------------------------------------------------------- #
# The README itself
# --------------------------------------------------------------------------- #

def test_readme_is_short():
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_README_LINES, (
        f"README.md has {lines} lines, at most {MAX_README_LINES}: move reference "
        "material to docs/")


def test_every_docs_page_is_linked_from_readme():
    assert DOCS, "no docs/*.md"
    targets = {(README.parent / t.partition("#")[0]).resolve()
               for t in LINK.findall(prose(README))}
    unlinked = [rel(p) for p in DOCS if p.resolve() not in targets]
    assert not unlinked, f"README.md does not link {unlinked}"


def test_readme_setup_block_is_what_ci_runs():
    """.ci/run takes the lines between the ci:setup markers, minus markers and fences."""
    text = README.read_text(encoding="utf-8")
    m = re.search(r"^<!-- ci:setup -->\n(.*?)^<!-- /ci:setup -->$", text, re.M | re.S)
    assert m, "README.md: no <!-- ci:setup --> ... <!-- /ci:setup --> block"
    commands = [line for line in m.group(1).splitlines() if not line.startswith("```")]
    assert len(commands) == 2, f"README.md: .ci/run expects 2 set-up commands: {commands}"
    assert (REPO / ".ci" / "run").is_file()


def layout_blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    start = text.index("## How the package is laid out")
    first_line = text[:start].count("\n") + 1
    end_match = re.search(r"^## ", text[start + 3:], re.M)
    last_line = (text[:start + 3 + end_match.start()].count("\n") + 1
                 if end_match else len(text.splitlines()))
    return [b for b in fenced_blocks(README)
            if b.lang == "text" and first_line < b.line < last_line]


def test_readme_package_tree_matches_the_package():
    """Each entry of the tree exists, and every file a directory entry names is in it."""
    blocks = layout_blocks()
    assert len(blocks) == 2, "README.md: the layout section should hold the tree and the data flow"
    tree, flow = blocks
    problems, entry, entry_path = [], None, None
    for line in tree.text.splitlines():
        if line.startswith("legal_eagle_xtuner/"):
            continue
        m = re.match(r"^ {2}(\S+)\s*(.*)$", line)
        if m:  # an entry of the package
            entry, description = m.groups()
            entry_path = PACKAGE / entry.rstrip("/")
            if not entry_path.exists():
                problems.append(f"legal_eagle_xtuner/{entry}")
        elif re.match(r"^\S", line):  # repository-level entries
            entry_path = None
            description = ""
            for path in re.findall(r"(?<![\w.])(\.?\w[\w.]*/[\w./]*)", line):
                if not (REPO / path).exists():
                    problems.append(path)
        else:  # continuation of the previous entry's description
            description = line
        if entry_path is not None and entry_path.is_dir():
            for name in re.findall(r"(?<![\w./])(\w+(?:\.py|\.json|/))(?![\w.])", description):
                if not (entry_path / name.rstrip("/")).exists():
                    problems.append(f"{rel(entry_path)}/{name}")
    for path in re.findall(r"(?<![\w.])(\w+/[\w.]*)", flow.text):
        if not ((PACKAGE / path).exists() or (REPO / path).exists()):
            problems.append(path)
    assert not problems, f"README.md's package layout names what does not exist: {problems}"
