"""import_submodules: how the op, importer, tactic, network-API and converter registries fill themselves."""
from __future__ import annotations

import sys

from inferrt.package_modules import import_submodules


def _package(tmp_path, monkeypatch, name):
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("seen = []\n")
    for mod in ("tactic_a", "tactic_b", "other", "_private"):
        # every module records its import; tactic_a looks the package up again while it is being imported
        again = f"from inferrt.package_modules import import_submodules\nimport_submodules({name!r}, str.isascii)\n"
        (pkg / f"{mod}.py").write_text(f"import {name}\n{again if mod == 'tactic_a' else ''}{name}.seen.append({mod!r})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_imports_the_kept_modules_once(tmp_path, monkeypatch):
    name = _package(tmp_path, monkeypatch, "pm_registry_once")
    import_submodules(name, lambda m: m.startswith("tactic_"))
    assert sorted(sys.modules[name].seen) == ["tactic_a", "tactic_b"]   # other and _private left out
    import_submodules(name, lambda m: True)                             # a later call imports nothing more
    assert sorted(sys.modules[name].seen) == ["tactic_a", "tactic_b"]
    assert f"{name}.other" not in sys.modules
