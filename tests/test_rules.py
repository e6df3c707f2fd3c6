"""Rule files: safe loading, exact ratios, and errors that name the file, key path and line."""

import functools
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import ROOT, RULES, read_yaml
from skl_payout.errors import PayoutError
from skl_payout.rules import load_rules, parse_ratio


@functools.cache
def source_ids() -> frozenset[str]:
    """The document ids of sources/index.yaml, the catalogue a citation's `document` names."""
    return frozenset(read_yaml(ROOT / "sources" / "index.yaml")["documents"])


def broken(tmp_path: Path, old: str, new: str, year: int = 2011) -> Path:
    text = (RULES / f"{year}.yaml").read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / "broken.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


@pytest.mark.parametrize("text,expected", [
    ("50%", Fraction(1, 2)), ("50 %", Fraction(1, 2)), ("1/2", Fraction(1, 2)), ("0.5", Fraction(1, 2)),
    (0.7, Fraction(7, 10)), ("70,5 %", Fraction(141, 200)), (1, Fraction(1)), ("100%", Fraction(1)),
])
def test_ratios_are_exact(text, expected):
    assert parse_ratio(text) == expected


@given(st.integers(0, 10_000))
def test_percent_strings_never_go_through_float(hundredths):
    assert parse_ratio(f"{hundredths / 100:.2f}%") == Fraction(hundredths, 10_000)


def test_shipped_2011_rules_load():
    rules = load_rules(RULES / "2011.yaml")
    assert [p.id for p in rules.pots] == ["PAL-50", "PAL-70", "SA", "DEV-66"]
    assert rules.pot("PAL-50").qualify[0].ratio.at_least == Fraction(1, 2)
    assert all(p.source.document in source_ids() for p in rules.pots)


def test_misspelled_key_names_file_key_and_line(tmp_path):
    path = broken(tmp_path, "          at_least: 50%", "          threshold_typo: 50%")
    with pytest.raises(PayoutError) as info:
        load_rules(path)
    text = str(info.value)
    assert f"{path}:{line_of(path, 'threshold_typo')}" in text
    assert "threshold_typo" in text


@pytest.mark.parametrize("old,new,words", [
    ("amount_sek: 40000000", "amount_sek: fyrtio miljoner", ["pots[0].amount_sek", ":{line:fyrtio}"]),
    ("    title: Svenska Palliativregistret, minst 50 procent av dödsfallen registrerade\n", "",
     ["missing required key pots[0].title"]),
    ("    amount_sek: 40000000\n", "    amount_sek: 40000000\n    amount_sek: 4000000\n", ["appears twice"]),
    ('"20": 3000000   # Dalarna 3', '"20": 2500000   # Dalarna 2,5', ["500000 less than the pot"]),
    ("amount_sek: 35000000", "amount_sek: 36000000", ["add up to 51000000"]),
    ("key: population.population_65plus", "key: population.population_80plus", ["population_80plus"]),
    ("at_least: 50%", "at_least: femtio", ["at_least", "expected a ratio"]),
    ("tier_of: PAL-50", "tier_of: PAL-55", ["unknown pot 'PAL-55'"]),
], ids=["wrong type", "missing field", "duplicate key", "table gap", "sub-pots", "unknown column", "bad ratio",
        "unknown tier"])
def test_schema_errors_name_what_is_wrong(tmp_path, old, new, words):
    path = broken(tmp_path, old, new)
    with pytest.raises(PayoutError) as info:
        load_rules(path)
    for word in words:
        if "{line:" in word:
            word = f":{line_of(path, word.split('{line:')[1].rstrip('}'))}"
        assert word in str(info.value)


def test_python_objects_in_yaml_are_refused(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("schema_version: !!python/object/apply:os.system ['echo hacked']\n", encoding="utf-8")
    with pytest.raises(PayoutError) as info:
        load_rules(path)
    assert "not valid YAML" in str(info.value)


@pytest.mark.parametrize("year", [2010, 2011, 2014])
def test_every_pot_table_and_budget_line_cites_a_source_document(year):
    rules = load_rules(RULES / f"{year}.yaml")
    sources = [rules.agreement.source] + [p.source for p in rules.pots]
    sources += [line.source for line in rules.budget.lines] + [t.source for t in rules.budget.totals]
    sources += [p.distribute.table_source for p in rules.pots if p.distribute.table is not None]
    sources += [t.source for t in rules.data.values()]
    assert all(s is not None and s.document in source_ids() and s.section for s in sources)


@pytest.mark.parametrize("year", [2010, 2011, 2014])
def test_rule_files_mark_their_assumptions(year):
    text = (RULES / f"{year}.yaml").read_text(encoding="utf-8")
    assert text.count("# ASSUMPTION") >= 2


def test_a_threshold_is_read_exactly_as_written_never_through_a_float(tmp_path):
    from fractions import Fraction

    text = (RULES / "2011.yaml").read_text(encoding="utf-8").replace("at_least: 70%", "at_least: 0.70000000000000001", 1)
    path = tmp_path / "2011.yaml"
    path.write_text(text, encoding="utf-8")
    threshold = load_rules(path).pot("PAL-70").qualify[0].ratio.at_least
    assert threshold == Fraction(70000000000000001, 10**17) and threshold != Fraction(7, 10)


def test_a_refused_rule_file_is_named_as_it_was_given_each_time(tmp_path):
    """The same refused bytes under another name (a link, a relative path) are named as given."""
    real = tmp_path / "real.yaml"
    real.write_text("year: 2011\npots: [\n", encoding="utf-8")
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    for path in (link, real, link):
        with pytest.raises(PayoutError) as info:
            load_rules(path)
        assert info.value.problems[0].where.startswith(str(path)), (path, info.value.problems[0].where)


def test_the_caches_are_safe_between_threads():
    """Rule files, data files and data sets are remembered in small caches a library user's threads
    share: a thread waits while another changes the cache (reading, then moving what it read to the
    end, raced with another thread forgetting it: KeyError)."""
    import threading

    from skl_payout.memo import Recent

    cache, got = Recent(2), []
    cache.put("a", 1)
    with cache._lock:  # another thread in the middle of a change
        reader = threading.Thread(target=lambda: got.append(cache.get("a")))
        reader.start()
        reader.join(0.2)
        assert not got, "read while another thread was changing the cache"
    reader.join()
    assert got == [1]
    cache.put("b", 2), cache.get("a"), cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)  # the least recently used went
