"""No Python source knows a year's amounts, thresholds or the years themselves: they live in rules/."""

import ast
import io
import tokenize
from fractions import Fraction


from conftest import ROOT, RULES, read_yaml
from skl_payout.rules import parse_ratio


def year_values() -> tuple[set[int], set[Fraction]]:
    amounts, ratios = set(), set()

    def walk(node, key=None):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif key in ("amount_sek", "year") or (isinstance(node, int) and node >= 10_000):
            amounts.add(int(node))
        elif key == "at_least":
            ratios.add(parse_ratio(node))

    for path in RULES.glob("*.yaml"):
        walk(read_yaml(path))
    return amounts, ratios


def number(literal: str) -> Fraction | None:
    """A literal's exact value: '0.7' is 7/10 (not the float nearest to it), '0o777' is 511."""
    if "j" in literal.lower():
        return None
    try:
        return Fraction(literal.replace("_", ""))
    except ValueError:
        return Fraction(ast.literal_eval(literal))


def test_no_amount_threshold_or_year_in_the_python_sources():
    amounts, ratios = year_values()
    assert {2010, 2011, 2014, 40_000_000, 66_000_000} <= amounts and Fraction(1, 2) in ratios
    found = []
    for path in sorted((ROOT / "skl_payout").rglob("*.py")):
        for tok in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
            if tok.type == tokenize.NUMBER:
                value = number(tok.string)
                if value in amounts or (value is not None and value.denominator != 1 and value in ratios):
                    found.append(f"{path.name}:{tok.start[0]} {tok.string}")
            elif tok.type == tokenize.STRING:
                # a string that *is* a year, a year's file or a threshold (help-text examples are fine)
                inner = tok.string.strip("'\"rbf")
                if inner in {"2010", "2011", "2014", "2010.yaml", "2011.yaml", "2014.yaml", "50%", "70%", "40%"}:
                    found.append(f"{path.name}:{tok.start[0]} {tok.string[:40]}")
    assert not found, "year-specific values in code: " + ", ".join(found)
