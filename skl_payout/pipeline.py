"""One payout run: qualify every eligible recipient of every (sub-)pot once, share each pot, and
record it all as one immutable trace (trace.py) that every output renders from."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from . import trace as T
from .conditions import evaluate
from .data import Dataset, Recipient
from .distribute import Share, apportion, per_unit
from .errors import PayoutError, error
from .rules import Pot, Rules


@dataclass
class Result:
    """A run as the renderers see it: the trace, the rules it was computed with, and (for a fresh run)
    the data it read. A recorded run read back from trace.json has no data."""

    rules: Rules
    trace: T.Trace
    data: Dataset | None = None
    counties: dict[str, str] = field(default_factory=dict)
    _rows: dict | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.counties = dict(self.trace.counties)

    @property
    def subpots(self) -> tuple[T.SubPot, ...]:
        return self.trace.subpots

    def totals(self) -> list[tuple[Recipient, int]]:
        """Every recipient considered in any pot, with its total, in a stable order."""
        sums: dict[Recipient, int] = {}
        for sp in self.subpots:
            for row in sp.rows:
                sums[row.recipient] = sums.get(row.recipient, 0) + row.amount
        order = {"kommun": 0, "landsting": 1, "regiondel": 2, "lan": 3}
        return sorted(sums.items(), key=lambda item: (order[item[0].type], item[0].code))

    def withheld_of(self) -> dict[Recipient, int]:
        """Each recipient's money held until a condition is met, over all pots (not in totals, which pays)."""
        held: dict[Recipient, int] = {}
        for sp in self.subpots:
            for row in sp.rows:
                held[row.recipient] = held.get(row.recipient, 0) + row.withheld
        return held

    def rows_for(self, recipient: Recipient) -> list[T.Row]:
        if self._rows is None:  # indexed once: letters and explain ask for every recipient in turn
            self._rows = {}
            for sp in self.subpots:
                for row in sp.rows:
                    self._rows.setdefault(row.recipient, []).append(row)
        return list(self._rows.get(recipient, []))

    def subpot(self, sub_id: str) -> T.SubPot:
        return next(sp for sp in self.subpots if sp.id == sub_id)

    @property
    def paid(self) -> int:
        return self.trace.paid

    @property
    def withheld(self) -> int:
        return self.trace.withheld


def attach(rules: Rules, trace: T.Trace, data: Dataset | None = None) -> Result:
    """A Result whose sub-pots carry the rule file's Pot (for titles, sources and texts)."""
    pots = {p.id: p for p in rules.pots}
    missing = sorted({sp.pot_id for sp in trace.subpots} - set(pots))
    if missing:
        raise PayoutError(error("trace", f"names pots the rule file does not have: {', '.join(missing)}"))
    subpots = tuple(T.SubPot(**{**sp.__dict__, "pot": pots[sp.pot_id]}) for sp in trace.subpots)
    return Result(rules, T.Trace(trace.year, trace.rules_sha256, trace.counties, trace.pots, subpots,
                                 trace.schema_version), data)


def split(pot: Pot) -> list[tuple[str, list[str], int]]:
    """A pot's sub-pots as (id, recipient types, amount); shares become exact kronor."""
    entries = pot.recipients
    if len(entries) == 1:
        amounts = [pot.amount_sek]
    elif all(s.amount_sek is not None for s in entries):
        amounts = [s.amount_sek for s in entries]
    else:
        shares = apportion(pot.amount_sek, {i: s.share for i, s in enumerate(entries)})
        amounts = [shares[i].amount for i in range(len(entries))]
    return [(i, s.types, a) for i, s, a in zip(pot.subpot_ids(), entries, amounts)]


def eligible(pot: Pot, types: list[str], data: Dataset) -> list[Recipient]:
    recipients = [r for r in data.recipients if r.type in types]
    table = pot.distribute.table
    if table is not None:
        known = {r.code for r in recipients}
        unknown = sorted(set(table) - known)
        if unknown:
            raise PayoutError(error(f"pot {pot.id}", f"the fixed table names {', '.join(unknown)}, "
                                    f"which are not {'/'.join(types)} recipients in the data"))
        recipients = [r for r in recipients if r.code in table]
    if not recipients:
        raise PayoutError(error(f"pot {pot.id}", f"pays {' and '.join(types)}, but the data has no "
                                f"{'/'.join(types)} to pay: the money would silently go unpaid",
                                "check authorities.csv (the type column), or take the sub-pot out of the rule file"))
    return recipients


@dataclass
class _Work:
    """A sub-pot while it is being computed (mutable); frozen into a trace.SubPot at the end."""

    id: str
    pot: Pot
    types: list[str]
    original: int
    recipients: list[Recipient]
    keys: dict[str, int | None]
    received: list[tuple[str, int]] = field(default_factory=list)
    handed: list[tuple[str, int]] = field(default_factory=list)
    conditions: dict[str, tuple[T.Condition, ...]] = field(default_factory=dict)
    allocation: dict[str, Share] = field(default_factory=dict)
    key_sum: int | None = None

    @property
    def budget(self) -> int:
        return self.original + sum(a for _, a in self.received) - sum(a for _, a in self.handed)

    @property
    def qualified(self) -> list[Recipient]:
        return [r for r in self.recipients if all(c.passed for c in self.conditions[r.code])]


def compute(rules: Rules, data: Dataset) -> Result:
    """Qualify once, hand empty sub-pots over, share, and freeze it all into a checked trace."""
    thresholds: dict[tuple[str, str], list[Fraction]] = {}
    for cond in (c.ratio for p in rules.pots for c in p.qualify if c.ratio):
        thresholds.setdefault((cond.numerator, cond.denominator), []).append(cond.at_least)
    work: list[_Work] = []
    for pot in rules.pots:
        for sub_id, types, amount in split(pot):
            recipients = eligible(pot, types, data)
            keys = {r.code: data.value(pot.distribute.key, r) if pot.distribute.key else None for r in recipients}
            work.append(_Work(sub_id, pot, types, amount, recipients, keys))
    higher = {p.tier_of: p for p in rules.pots if p.tier_of and p.tier_mode == "exclusive"}
    for w in work:
        if _allocated_before_qualifying(w.pot):  # the allocation is known up front (matching funds need it)
            _share(w, w.recipients)
        for r in w.recipients:
            conds = [evaluate(cond, w.pot, r, data, thresholds, w.allocation.get(r.code)) for cond in w.pot.qualify]
            tier = higher.get(w.pot.id)
            if tier is not None and r.type in {t for s in tier.recipients for t in s.types}:
                above = [evaluate(c, tier, r, data, thresholds, None) for c in tier.qualify if not c.matching_funds]
                if all(c.passed for c in above):
                    conds.append(T.Condition("tier", False, tier.title, higher_tier=tier.id))
            w.conditions[r.code] = tuple(conds)
    for pot in rules.pots:
        _hand_over_empty(pot, [w for w in work if w.pot is pot])
    for w in work:
        if not _allocated_before_qualifying(w.pot):
            _share(w, w.qualified)
    trace = T.Trace(rules.year, rules.sha256, tuple(sorted(data.counties.items())),
                    tuple((p.id, p.amount_sek) for p in rules.pots), tuple(_freeze(w, data) for w in work))
    T.check(trace)
    return attach(rules, trace, data)


def _allocated_before_qualifying(pot: Pot) -> bool:
    return pot.distribute.method == "fixed_table" or pot.distribute.among == "eligible"


def _share(w: _Work, pool: list[Recipient]) -> None:
    """Each recipient's exact share of the sub-pot: by table, fixed rate, or largest remainder."""
    spec = w.pot.distribute
    if spec.method == "fixed_table":
        w.allocation = {r.code: Share(spec.table[r.code], Fraction(spec.table[r.code]), spec.table[r.code], 0)
                        for r in pool}
        return
    weights = {r.code: w.keys[r.code] for r in pool}
    w.key_sum = sum(weights.values())
    fixed_rate = spec.method == "per_unit" and spec.rate_sek is not None
    if pool and w.key_sum == 0 and w.budget > 0 and not fixed_rate:
        raise PayoutError(error(f"pot {w.id}", f"{len(pool)} recipient(s) share it, but their {spec.key} sums "
                                "to 0: the pot cannot be shared and would silently go unpaid",
                                f"check the {spec.key.split('.')[1]} column of the data"))
    if not pool or w.budget == 0 or (w.key_sum == 0 and not fixed_rate):
        w.allocation = {}
    elif fixed_rate:
        try:
            w.allocation = per_unit(w.budget, weights, spec.rate_sek)
        except PayoutError as exc:
            raise PayoutError(error(f"pot {w.id}", str(exc))) from None
    else:
        w.allocation = apportion(w.budget, weights)


def _hand_over_empty(pot: Pot, parts: list[_Work]) -> None:
    """Decision 5: a sub-pot nobody qualifies for goes to the pot's other types.

    Not where allocations are fixed before qualification (`among: eligible`, tables): there each
    eligible recipient's allocation is withheld or unpaid as `unmet` says, and is never anyone else's.
    """
    if pot.on_empty != "other_types" or len(parts) < 2 or _allocated_before_qualifying(pot):
        return
    empty = [w for w in parts if not w.qualified]
    takers = [w for w in parts if w.qualified]
    if not empty or not takers:
        return
    weights = {t.id: t.original for t in takers}
    if not any(weights.values()):  # the takers' own sub-pots are 0 kr (a tiny share): they share equally
        weights = {t.id: 1 for t in takers}
    for w in empty:
        moved = apportion(w.budget, weights)
        for taker in takers:
            taker.received.append((w.id, moved[taker.id].amount))
            w.handed.append((taker.id, moved[taker.id].amount))


def _freeze(w: _Work, data: Dataset) -> T.SubPot:
    rows = []
    for r in w.recipients:
        conds = w.conditions[r.code]
        share = w.allocation.get(r.code)
        qualified = all(c.passed for c in conds)
        # withheld only for a condition that can still be met: a recipient replaced by a higher
        # exclusive tier is paid there, and its allocation here is never paid
        held = (share is not None and share.amount > 0 and not qualified and w.pot.unmet == "withheld"
                and any(c.kind != "tier" for c in conds if not c.passed))
        amount = share.amount if share is not None and qualified else 0
        withheld = share.amount if held else 0
        key = w.keys[r.code]
        rows.append(T.Row(w.id, r, conds, key, data.where(w.pot.distribute.key, r) if key is not None else None,
                          share, "paid" if qualified else "withheld" if held else "not_qualified", amount, withheld))
    paid = sum(row.amount for row in rows)
    withheld = sum(row.withheld for row in rows)
    spec = w.pot.distribute
    return T.SubPot(w.id, w.pot.id, tuple(w.types), spec.method, spec.among, spec.rate_sek, w.original,
                    tuple(w.received), tuple(w.handed), w.budget, w.key_sum, paid, withheld,
                    w.budget - paid - withheld, tuple(rows))
