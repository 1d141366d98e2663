"""The package's layout holds: no module over ~400 lines, no import that runs up
the pipeline (sources < data < train, eval < demo < cli), and 0.1's flat import
paths still work for one release, with a DeprecationWarning, as the same objects."""

import ast
import importlib
import re
import sys
import warnings

import pytest
from mmengine.config import Config

from conftest import CONFIGS, REPO

PACKAGE = REPO / "legal_eagle_xtuner"
MAX_LINES = 400

# What each part may import of ours (besides itself). compat patches mmengine's
# resume lookup with train.resume's checkpoint check; the deprecation forwards
# (data/__init__.py's old builder names, _moved.py) point at where code moved.
ALLOWED = {
    "sources": {"sources"},
    "data": {"sources", "data", "resources"},
    "train": {"sources", "data", "train", "resources", "compat", ""},  # "": the CPU shim
    "eval": {"sources", "data", "eval", "resources", "law"},
    "law": {"sources", "data", "law", "resources"},
    "export": {"export", "map_fns"},
    "demo": {"sources", "data", "train", "eval", "law", "export", "demo", "resources", "map_fns",
             "compat", ""},
    "cli": {"sources", "data", "train", "eval", "law", "export", "demo", "cli", "resources",
            "map_fns", "web", ""},
    "web": {"eval", "export", "sources", "data", "resources", "law", "web"},
    "resources": set(),
    "map_fns": {"sources"},
    "compat": {"train"},
    "_moved": set(),
    "__init__": {"_moved", "compat", "map_fns", "train"},
}
EXCEPTIONS = {("data/__init__.py", "_moved"), ("data/__init__.py", "train")}


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _part(path):
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _our_imports(path):
    tree = ast.parse(path.read_text("utf-8"))
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import; the package imports absolutely"
            names = [node.module or ""]
            if node.module == "legal_eagle_xtuner":  # a submodule, or a name of the top level
                names = [f"legal_eagle_xtuner.{alias.name}"
                         if (PACKAGE / alias.name).is_dir()
                         or (PACKAGE / f"{alias.name}.py").is_file() else "legal_eagle_xtuner"
                         for alias in node.names]
        for name in names:
            if name == "legal_eagle_xtuner" or name.startswith("legal_eagle_xtuner."):
                yield name.split(".")[1] if "." in name else ""
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module" \
                and node.args and isinstance(node.args[0], ast.Constant):
            name = node.args[0].value
            if isinstance(name, str) and name.startswith("legal_eagle_xtuner."):
                yield name.split(".")[1]


def test_no_module_is_over_400_lines():
    files = _modules() + sorted((REPO / "benchmarks").rglob("*.py"))
    long = {str(p.relative_to(REPO)): n for p in files
            if (n := len(p.read_text("utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_nothing_imports_up_the_pipeline():
    wrong = []
    for path in _modules():
        part = _part(path)
        rel = path.relative_to(PACKAGE).as_posix()
        for target in set(_our_imports(path)):
            if target in ALLOWED[part] or target == part or (rel, target) in EXCEPTIONS:
                continue
            wrong.append(f"{rel} imports legal_eagle_xtuner.{target}")
    assert wrong == []


def test_each_subpackage_says_what_it_does_and_may_import():
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text("utf-8")))
        assert doc, f"{init.relative_to(REPO)} has no docstring"
        if init.parent.name != "resources":
            assert re.search(r"\bImports?\b", doc), f"{init.relative_to(REPO)}: {doc!r}"


def test_data_tools_do_not_import_torch():
    for path in (PACKAGE / "data").rglob("*.py"):
        imports = {alias.name.split(".")[0]
                   for node in ast.walk(ast.parse(path.read_text("utf-8")))
                   if isinstance(node, ast.Import) for alias in node.names}
        imports |= {(node.module or "").split(".")[0]
                    for node in ast.walk(ast.parse(path.read_text("utf-8")))
                    if isinstance(node, ast.ImportFrom)}
        assert "torch" not in imports, path


# --- 0.1's import paths -------------------------------------------------------------

from legal_eagle_xtuner._moved import MOVED  # noqa: E402


@pytest.mark.parametrize("old, new", sorted(MOVED.items()))
def test_old_module_path_warns_and_is_the_new_module(old, new):
    sys.modules.pop(f"legal_eagle_xtuner.{old}", None)
    with pytest.warns(DeprecationWarning,
                      match=rf"legal_eagle_xtuner\.{old} moved to legal_eagle_xtuner\.{new}; "
                            r"the old path will be removed in legal-eagle-xtuner 0\.3"):
        module = importlib.import_module(f"legal_eagle_xtuner.{old}")
    assert module is importlib.import_module(f"legal_eagle_xtuner.{new}")


def test_old_builder_names_forward_with_a_warning():
    from legal_eagle_xtuner.train import dataset

    import legal_eagle_xtuner.data as data

    for name in ("legal_sft_dataset", "build_best_fit", "default_num_proc", "held_out_dataset",
                 "PACKERS"):
        with pytest.warns(DeprecationWarning, match=rf"legal_eagle_xtuner\.data\.{name} moved"):
            assert getattr(data, name) is getattr(dataset, name)
    with pytest.raises(AttributeError):
        data.no_such_name  # noqa: B018


def test_top_level_names_configs_use():
    import legal_eagle_xtuner as pkg
    from legal_eagle_xtuner.train import dataset, precision, resume, validation

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert pkg.legal_sft_dataset is dataset.legal_sft_dataset
        assert pkg.ExactResumeHook is resume.ExactResumeHook
        assert pkg.ValLoss is validation.ValLoss and pkg.ValLossLoop is validation.ValLossLoop
        assert pkg.AutoAmpOptimWrapper is precision.AutoAmpOptimWrapper
        assert pkg.SupervisedFinetune.__name__ == "SupervisedFinetune"
    assert set(pkg.__all__) >= {"legal_qa_map_fn", "legal_qa_map_fn_factory", "LEGAL_SYSTEM",
                                "SupervisedFinetune", "legal_sft_dataset", "ExactResumeHook"}


OLD_IMPORTS = """\
from legal_eagle_xtuner.data import legal_sft_dataset
from legal_eagle_xtuner.precision import AutoAmpOptimWrapper
from legal_eagle_xtuner.resume import ExactResumeHook
from legal_eagle_xtuner.validation import ValLoss, ValLossLoop
"""


def test_a_config_copied_from_0_1_still_loads(tmp_path):
    text = (CONFIGS / "internlm2_7b_disc.py").read_text("utf-8")
    new = re.findall(r"^from legal_eagle_xtuner\.train\.\w+ import .*$", text, re.M)
    new = [line for line in new if ".isolation " not in line]  # new in 0.2: no old path
    assert len(new) == 4
    for line in new:
        text = text.replace(line + "\n", "")
    text = text.replace("from legal_eagle_xtuner import", OLD_IMPORTS + "from legal_eagle_xtuner import")
    old = tmp_path / "copied_from_0_1.py"
    old.write_text(text, "utf-8")
    for name in ("precision", "resume", "validation"):
        sys.modules.pop(f"legal_eagle_xtuner.{name}", None)
    current = Config.fromfile(str(CONFIGS / "internlm2_7b_disc.py"))
    # mmengine imports a config's names when they are first used: the warnings come then.
    with pytest.warns(DeprecationWarning) as caught:
        cfg = Config.fromfile(str(old))
        assert cfg.train_dataloader.dataset.datasets[0].type is \
            current.train_dataloader.dataset.datasets[0].type
        assert [h["type"] for h in cfg.custom_hooks] == [h["type"] for h in current.custom_hooks]
        assert cfg.optim_wrapper.type is current.optim_wrapper.type
        assert cfg.val_cfg.type is current.val_cfg.type
    moved = {str(w.message).split()[0] for w in caught if "moved to" in str(w.message)}
    assert moved >= {"legal_eagle_xtuner.data.legal_sft_dataset",
                     "legal_eagle_xtuner.resume", "legal_eagle_xtuner.precision",
                     "legal_eagle_xtuner.validation"}
