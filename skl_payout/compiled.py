"""The pots compiled to integer arrays, for sweeps of many scenarios.

A computed run (the trace) gives, per sub-pot, the recipients in order, their keys and the numbers
each condition compared. A scenario that changes thresholds, amounts or splits is then re-qualified
with exact integer comparison (`num * t_den >= t_num * den`, never a float) and re-apportioned with
integer floor division and the largest remainder (ties by code), as `distribute.apportion` does.
Pots a scenario does not touch keep the base run's numbers. What this form cannot express (tables,
fixed rates, matching funds, exclusive tiers, withheld money) is left to the full engine.

Overflow: `budget * key` is computed in int64 only after checking that the pot's largest possible
budget times the largest key is below 2**63; otherwise in Python integers (object arrays).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .distribute import apportion
from .errors import PayoutError, error

INT64_MAX = 2**63 - 1


@dataclass
class CompiledSubPot:
    id: str
    index: np.ndarray  # position of each recipient in the run's list of recipients
    keys: np.ndarray
    rank: np.ndarray  # order of the codes: ties of the largest remainder go to the smaller code
    conditions: list[tuple]  # ("ratio", num, den) | ("flag", passed)
    dtype: object


@dataclass
class CompiledPot:
    id: str
    amount: int
    entries: list[dict]  # per sub-pot: {"share": Fraction|None, "amount": int|None}
    thresholds: list[Fraction | None]  # per condition (None for a flag)
    on_empty: str
    subpots: list[CompiledSubPot]


@dataclass
class Outcome:
    """One scenario, in numbers: per sub-pot (qualified, paid, withheld, unpaid) and each recipient's total."""

    subpots: dict[str, tuple[int, int, int, int]]
    amounts: np.ndarray  # in the order of `Compiled.recipients`


class Compiled:
    """The base run's pots as arrays; `evaluate(params)` computes a scenario of changed parameters."""

    def __init__(self, result):
        self.rules = result.rules
        self.recipients = [r for r, _ in result.totals()]
        position = {r: i for i, r in enumerate(self.recipients)}
        self.base_subpots = {sp.id: (sp.qualified, sp.paid, sp.withheld, sp.unpaid) for sp in result.subpots}
        self.base_amounts = {sp.id: np.array([row.amount for row in sp.rows], dtype=np.int64) for sp in result.subpots}
        self.base_pot = {sp.id: sp.pot_id for sp in result.subpots}
        self.base_index = {sp.id: np.array([position[row.recipient] for row in sp.rows], dtype=np.int64)
                           for sp in result.subpots}
        self.pots: dict[str, CompiledPot] = {}
        self.opaque: dict[str, str] = {}  # pot id -> why the full engine is needed for it
        self._untouched: dict[frozenset, tuple] = {}
        self._splits: dict[tuple, list[int]] = {}
        for pot in self.rules.pots:
            why = self._unsupported(pot)
            if why:
                self.opaque[pot.id] = why
                continue
            subs = [sp for sp in result.subpots if sp.pot_id == pot.id]
            self.pots[pot.id] = CompiledPot(
                pot.id, pot.amount_sek,
                [{"share": e.share, "amount": e.amount_sek} for e in pot.recipients],
                [c.ratio.at_least if c.ratio else None for c in pot.qualify], pot.on_empty,
                [self._subpot(sp, position) for sp in subs])

    def _unsupported(self, pot) -> str | None:
        spec = pot.distribute
        if spec.method not in ("proportional", "per_unit") or spec.rate_sek is not None:
            return f"method {spec.method}" + (" with a fixed rate" if spec.rate_sek is not None else "")
        if spec.among != "qualified" or spec.table is not None:
            return "allocations fixed before qualifying"
        if any(c.kind not in ("ratio", "flag") for c in pot.qualify):
            return "a matching-funds condition"
        if pot.tier_mode == "exclusive" or any(p.tier_of == pot.id and p.tier_mode == "exclusive"
                                               for p in self.rules.pots):
            return "an exclusive tier"
        return None

    def _subpot(self, sp, position) -> CompiledSubPot:
        rows = sp.rows
        keys = [row.key_value for row in rows]
        if any(k is None for k in keys):
            raise ValueError(f"{sp.id}: a recipient without a key")
        codes = [row.recipient.code for row in rows]
        rank = np.empty(len(codes), dtype=np.int64)
        rank[np.argsort(np.array(codes, dtype=object), kind="stable")] = np.arange(len(codes))
        conditions = []
        for j in range(len(rows[0].conditions) if rows else 0):
            kinds = {row.conditions[j].kind for row in rows}
            if kinds == {"ratio"}:
                num = [row.conditions[j].numerator for row in rows]
                den = [row.conditions[j].denominator for row in rows]
                conditions.append(("ratio", np.array(num, dtype=np.int64), np.array(den, dtype=np.int64),
                                   max(map(abs, num), default=0), max(map(abs, den), default=0),
                                   np.array(num, dtype=object), np.array(den, dtype=object)))
            else:
                conditions.append(("flag", np.array([row.conditions[j].passed for row in rows], dtype=bool)))
        key_array = np.array(keys, dtype=np.int64)
        # the largest budget this sub-pot can hold is every krona of the rule file's pots
        ceiling = sum(p.amount_sek for p in self.rules.pots) * 4 + 10**12
        fits = int(key_array.max(initial=0)) * ceiling <= INT64_MAX and int(key_array.sum()) * ceiling <= INT64_MAX
        dtype = np.int64 if fits else object
        return CompiledSubPot(sp.id, np.array([position[row.recipient] for row in rows], dtype=np.int64),
                              key_array.astype(dtype), rank, conditions, dtype)

    # --- one scenario ---------------------------------------------------------------------------

    def evaluate(self, changes: dict[str, dict]) -> Outcome:
        """`changes`: pot id -> {"amount": int, "entries": [...], "thresholds": [...]} (any subset).

        Recomputes only the pots named; the others keep the base run's numbers.
        """
        touched = frozenset(changes)
        if touched not in self._untouched:  # the pots a scenario leaves alone: summed once per set of touched pots
            amounts = np.zeros(len(self.recipients), dtype=np.int64)
            subpots = {}
            for sp_id, values in self.base_amounts.items():
                if self.base_pot[sp_id] not in touched:
                    np.add.at(amounts, self.base_index[sp_id], values)
                    subpots[sp_id] = self.base_subpots[sp_id]
            self._untouched[touched] = (amounts, subpots)
        amounts, subpots = self._untouched[touched]
        amounts, subpots = amounts.copy(), dict(subpots)
        for pot_id, change in changes.items():
            if pot_id in self.opaque:
                raise KeyError(pot_id)
            for sp_id, (qualified, paid, withheld, unpaid, index, values) in self._pot(self.pots[pot_id], change).items():
                subpots[sp_id] = (qualified, paid, withheld, unpaid)
                np.add.at(amounts, index, values)
        return Outcome(subpots, amounts)

    def _pot(self, pot: CompiledPot, change: dict) -> dict:
        amount = change.get("amount", pot.amount)
        entries = change.get("entries", pot.entries)
        thresholds = change.get("thresholds", pot.thresholds)
        split = (amount, tuple((e["share"], e["amount"]) for e in entries))
        if split not in self._splits:  # as pipeline.split
            if len(entries) == 1:
                self._splits[split] = [amount]
            elif all(e["amount"] is not None for e in entries):
                self._splits[split] = [e["amount"] for e in entries]
            else:
                shares = apportion(amount, {i: e["share"] for i, e in enumerate(entries)})
                self._splits[split] = [shares[i].amount for i in range(len(entries))]
        budgets = self._splits[split]
        masks = []
        for sub in pot.subpots:
            mask = np.ones(len(sub.keys), dtype=bool)
            for cond, threshold in zip(sub.conditions, thresholds):
                if cond[0] == "ratio":
                    _, num, den, top_num, top_den, big_num, big_den = cond
                    # exact: num/den >= t  <=>  num * t.den >= t.num * den (den > 0); a zero denominator never
                    # qualifies. In int64 only where both products are proven to fit; else in Python integers.
                    if top_num * threshold.denominator > INT64_MAX or top_den * threshold.numerator > INT64_MAX:
                        num, den = big_num, big_den
                    passed = (num * threshold.denominator >= den * threshold.numerator)
                    mask &= (den > 0).astype(bool) & passed.astype(bool)
                else:
                    mask &= cond[1]
            masks.append(mask)
        budgets = list(budgets)
        counts = [int(m.sum()) for m in masks]
        if pot.on_empty == "other_types" and len(pot.subpots) > 1:  # decision 5, as pipeline._hand_over_empty
            originals = list(budgets)
            takers = [i for i, c in enumerate(counts) if c]
            for i in [i for i, c in enumerate(counts) if not c]:
                if not takers:
                    break
                weights = {t: originals[t] for t in takers}
                if not any(weights.values()):  # as pipeline._hand_over_empty: 0 kr takers share equally
                    weights = {t: 1 for t in takers}
                moved = apportion(originals[i], weights)
                for t in takers:
                    budgets[t] += moved[t].amount
                budgets[i] -= sum(moved[t].amount for t in takers)
        out = {}
        for sub, mask, budget, count in zip(pot.subpots, masks, budgets, counts):
            values = self._share(sub, mask, budget)
            paid = int(values.sum()) if count else 0
            out[sub.id] = (count, paid, 0, budget - paid, sub.index, values)
        return out

    @staticmethod
    def _share(sub: CompiledSubPot, mask: np.ndarray, budget: int) -> np.ndarray:
        """Largest remainder over the qualified, exactly as distribute.apportion."""
        values = np.zeros(len(sub.keys), dtype=np.int64)
        if budget == 0 or not mask.any():
            return values
        keys = sub.keys[mask]
        exact_ints = sub.dtype is object or int(keys.max()) * budget > INT64_MAX or int(keys.sum()) * budget > INT64_MAX
        if exact_ints:  # the product would not fit in int64: Python integers
            keys = keys.astype(object)
        total = keys.sum()
        if total == 0:
            raise PayoutError(error(f"pot {sub.id}", "the qualified recipients' keys sum to 0: the pot cannot be shared"))
        product_ = keys * budget  # int64 where proven to fit at compile time, else Python integers
        floors = product_ // total
        remainders = product_ - floors * total
        left = int(budget - floors.sum())
        if left:
            ranks = sub.rank[mask]
            if exact_ints:
                order = sorted(range(len(keys)), key=lambda i: (-remainders[i], ranks[i]))[:left]
            else:
                order = np.lexsort((ranks, -remainders))[:left]
            floors[order] += 1
        values[mask] = floors.astype(np.int64)  # each at most the budget: int64 holds it
        return values
