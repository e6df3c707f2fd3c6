"""Every corpus case fails clearly (file, row, column; no traceback) and loses nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import snapshot, RULES, SAMPLE, cli

CORPUS = yaml.safe_load((Path(__file__).parent / "corpus" / "broken.yaml").read_text(encoding="utf-8"))


def apply(case: dict, tmp: Path) -> tuple[Path, Path]:
    data, rules = tmp / "data", tmp / "2011.yaml"
    shutil.copytree(SAMPLE / "2011", data)
    shutil.copyfile(RULES / "2011.yaml", rules)
    path = rules if case["target"] == "rules" else data / case["target"]
    if case.get("delete_file"):
        path.unlink()
    elif "bytes" in case:
        path.write_bytes(bytes.fromhex(case["bytes"]))
    elif "content" in case:
        path.write_text(case["content"], encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
        if "replace" in case:
            old, new = case["replace"]
            assert old in text, f"{case['name']}: {old!r} not in {path.name}"
            text = text.replace(old, new, 1)
        if "append" in case:
            text += case["append"] + "\n"
        if "delete" in case:
            text = "".join(line for line in text.splitlines(True) if case["delete"] not in line)
        path.write_text(text, encoding="utf-8")
    return rules, data


def expected_words(case: dict, rules: Path) -> list[str]:
    words = []
    for word in case["expect"]:
        if "{line:" in word:
            needle = word.split("{line:")[1].rstrip("}")
            line = next(i for i, t in enumerate(rules.read_text(encoding="utf-8").splitlines(), 1) if needle in t)
            word = word.split("{line:")[0] + str(line)
        words.append(word)
    return words


@pytest.fixture(scope="module")
def previous_output(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prev") / "out"
    assert cli("run", "--year", "2011", "--out", str(out)).returncode == 0
    return out


@pytest.mark.parametrize("case", CORPUS, ids=[c["name"] for c in CORPUS])
def test_broken_input_fails_clearly_and_loses_nothing(case, tmp_path, previous_output):
    rules, data = apply(case, tmp_path)
    words = expected_words(case, rules)

    checked = cli("validate", "--rules", str(rules), "--data", str(data), "--json")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    text = json.dumps(report, ensure_ascii=False)
    for word in words:
        assert word in text, f"validate: {word!r} not in {text}"

    before = snapshot(previous_output)
    ran = cli("run", "--rules", str(rules), "--data", str(data), "--out", str(previous_output))
    assert ran.returncode == 1
    assert "Traceback" not in ran.stderr and "internal error" not in ran.stderr, ran.stderr
    for word in words:
        assert word in ran.stderr, f"run: {word!r} not in {ran.stderr}"
    assert snapshot(previous_output) == before
    assert not [p for p in previous_output.parent.iterdir() if p.name.startswith(".out.")]
