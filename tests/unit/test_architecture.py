"""House rules that hold across the code base."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from kneeai.i18n import LANGUAGES, catalog, t

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_library_never_imports_streamlit():
    offenders = [str(p) for p in (ROOT / "kneeai").rglob("*.py") if "streamlit" in _imports(p)]
    assert offenders == []


def test_every_key_exists_in_every_language():
    keys = {lang: set(catalog(lang)) for lang in LANGUAGES}
    union = set().union(*keys.values())
    missing = {lang: sorted(union - k) for lang, k in keys.items() if union - k}
    assert missing == {}


def test_no_catalog_entry_is_empty_or_untranslated():
    en, zh = catalog("en"), catalog("zh")
    assert all(v.strip() for v in en.values()) and all(v.strip() for v in zh.values())
    # A Chinese entry identical to the English one is a forgotten translation, except for
    # names, codes and pure formatting.
    untranslated = [k for k in en if en[k] == zh[k] and re.search(r"[a-z]{4,}", en[k]) and k not in {"app.title"}]
    assert untranslated == []


def test_placeholders_match_between_languages():
    fields = re.compile(r"\{(\w+)\}")
    en, zh = catalog("en"), catalog("zh")
    mismatched = [k for k in en if set(fields.findall(en[k])) != set(fields.findall(zh[k]))]
    assert mismatched == []


def test_every_key_used_in_code_exists():
    used: set[str] = set()
    # Whole literal keys only; a prefix completed at run time ("explain.region." + name) is skipped.
    pattern = re.compile(r"""\b(?:t|tr)\(\s*["']([a-z_]+\.[a-z0-9_.]*[a-z0-9_])["']""")
    for p in list((ROOT / "kneeai").rglob("*.py")) + list((ROOT / "views").rglob("*.py")) + list((ROOT / "ui").rglob("*.py")) + [ROOT / "app.py"]:
        used |= set(pattern.findall(p.read_text(encoding="utf-8")))
    assert sorted(used - set(catalog("en"))) == []


def test_medical_terms_follow_standard_chinese_usage():
    zh = " ".join(catalog("zh").values())
    for term in ("膝骨关节炎", "Kellgren-Lawrence 分级", "全膝关节置换"):
        assert term in zh


def test_translation_fills_parameters_and_falls_back():
    assert "999" in t("error.too_large", "zh", pixels=999, limit=1)
    assert t("no.such.key", "zh") == "no.such.key"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/test.sh" in readme and "bash scripts/test.sh" in ci


def test_streamlit_config_is_safe():
    import tomllib

    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["enableXsrfProtection"] is True
    assert cfg["client"]["showErrorDetails"] is False
    assert 1 <= cfg["server"]["maxUploadSize"] <= 200


def test_manifest_lists_every_weight_file():
    manifest = json.loads((ROOT / "weights" / "manifest.json").read_text()) if (ROOT / "weights" / "manifest.json").exists() else {}
    files = {p.name for p in (ROOT / "weights").iterdir() if p.is_file() and p.name not in {"manifest.json", "README.md"}}
    assert files <= set(manifest)
