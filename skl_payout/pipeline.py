"""One payout run: qualify every eligible recipient of every (sub-)pot, then share each pot."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from . import fmt
from .data import Dataset, Recipient
from .distribute import Share, apportion, per_unit
from .errors import PayoutError, error
from .qualify import Qualification, check_matching_funds, qualify
from .rules import Pot, Rules


@dataclass
class Row:
    """One recipient in one (sub-)pot: why it did or did not qualify, and what it gets."""

    subpot: "SubPotResult"
    recipient: Recipient
    qualification: Qualification
    key_value: int | None
    share: Share | None
    amount: int = 0
    withheld: int = 0  # allocated, but held until an unmet condition is met (pot.unmet: withheld)

    @property
    def qualified(self) -> bool:
        return self.qualification.qualified


@dataclass
class SubPotResult:
    id: str
    pot: Pot
    types: list[str]
    original_budget: int
    budget: int = 0
    rows: list[Row] = field(default_factory=list)
    transfers: list[str] = field(default_factory=list)
    key_sum: int | None = None

    @property
    def paid(self) -> int:
        return sum(r.amount for r in self.rows)

    @property
    def withheld(self) -> int:
        return sum(r.withheld for r in self.rows)

    @property
    def unpaid(self) -> int:
        return self.budget - self.paid - self.withheld

    @property
    def eligible(self) -> int:
        return len(self.rows)

    @property
    def qualified(self) -> int:
        return sum(r.qualified for r in self.rows)


@dataclass
class Result:
    rules: Rules
    data: Dataset
    subpots: list[SubPotResult]

    def totals(self) -> list[tuple[Recipient, int]]:
        """Every recipient considered in any pot, with its total, in a stable order."""
        sums: dict[Recipient, int] = {}
        for sp in self.subpots:
            for row in sp.rows:
                sums[row.recipient] = sums.get(row.recipient, 0) + row.amount
        order = {"kommun": 0, "landsting": 1, "regiondel": 2, "lan": 3}
        return sorted(sums.items(), key=lambda item: (order[item[0].type], item[0].code))

    def rows_for(self, recipient: Recipient) -> list[Row]:
        return [row for sp in self.subpots for row in sp.rows if row.recipient == recipient]

    @property
    def paid(self) -> int:
        return sum(sp.paid for sp in self.subpots)

    @property
    def withheld(self) -> int:
        return sum(sp.withheld for sp in self.subpots)


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


def compute(rules: Rules, data: Dataset) -> Result:
    subpots: list[SubPotResult] = []
    thresholds: dict[tuple[str, str], list] = {}
    for cond in (c.ratio for p in rules.pots for c in p.qualify if c.ratio):
        thresholds.setdefault((cond.numerator, cond.denominator), []).append(cond.at_least)
    for pot in rules.pots:
        parts = []
        for sub_id, types, amount in split(pot):
            sp = SubPotResult(sub_id, pot, types, amount, amount)
            for recipient in eligible(pot, types, data):
                key = data.value(pot.distribute.key, recipient) if pot.distribute.key else None
                sp.rows.append(Row(sp, recipient, qualify(pot, recipient, data, thresholds), key, None))
            parts.append(sp)
        subpots += parts
    _exclusive_tiers(rules, subpots)
    for pot in rules.pots:
        parts = [sp for sp in subpots if sp.pot is pot]
        _hand_over_empty(pot, parts)
        for sp in parts:
            _distribute(sp, data)
    result = Result(rules, data, subpots)
    _check_money(result)
    _assert_exact(result)
    return result


def _exclusive_tiers(rules: Rules, subpots: list[SubPotResult]) -> None:
    """With tier_mode exclusive, a recipient in a higher tier leaves the base pot."""
    from .qualify import Check

    for tier in (p for p in rules.pots if p.tier_of and p.tier_mode == "exclusive"):
        higher = {row.recipient for sp in subpots if sp.pot is tier for row in sp.rows if row.qualified}
        for sp in (s for s in subpots if s.pot.id == tier.tier_of):
            for row in sp.rows:
                if row.recipient in higher:
                    row.qualification.checks.append(Check(
                        "tier", False, f"ersätts av den högre nivån {tier.id}", requirement="inte kvalificerad för en högre nivå",
                        value_text=f"kvalificerad för {tier.id}", shortfall=f"ersätts av {tier.id}"))


def _hand_over_empty(pot: Pot, parts: list[SubPotResult]) -> None:
    """Decision 5: a sub-pot nobody qualifies for goes to the pot's other types.

    Not where allocations are fixed before qualification (`among: eligible`): there each eligible
    recipient's allocation is withheld or unpaid as `unmet` says, and is never anyone else's.
    """
    if pot.on_empty != "other_types" or len(parts) < 2 or pot.distribute.among == "eligible":
        return
    empty = [sp for sp in parts if sp.qualified == 0]
    takers = [sp for sp in parts if sp.qualified > 0]
    if not empty or not takers:
        return
    for sp in empty:
        moved = apportion(sp.budget, {t.id: t.original_budget for t in takers})
        for taker in takers:
            taker.budget += moved[taker.id].amount
            taker.transfers.append(f"+{fmt.kr(moved[taker.id].amount, nbsp=False)} från {sp.id} (inga kvalificerade)")
        sp.transfers.append(f"{fmt.kr(sp.budget, nbsp=False)} överfört till {', '.join(t.id for t in takers)} (inga kvalificerade)")
        sp.budget = 0


def _distribute(sp: SubPotResult, data: Dataset) -> None:
    spec = sp.pot.distribute
    matching = [c for c in sp.pot.qualify if c.matching_funds]
    if spec.method == "fixed_table":
        allocation = {row.recipient.code: spec.table[row.recipient.code] for row in sp.rows}
        shares = {code: Share(a, Fraction(a), a, 0) for code, a in allocation.items()}
    else:
        pool = [row for row in sp.rows if spec.among == "eligible" or row.qualified]
        weights = {row.recipient.code: row.key_value for row in pool}
        sp.key_sum = sum(weights.values())
        fixed_rate = spec.method == "per_unit" and spec.rate_sek is not None
        if pool and sp.key_sum == 0 and sp.budget > 0 and not fixed_rate:
            raise PayoutError(error(f"pot {sp.id}", f"{len(pool)} recipient(s) share it, but their {spec.key} sums "
                                    "to 0: the pot cannot be shared and would silently go unpaid",
                                    f"check the {spec.key.split('.')[1]} column of the data"))
        if not pool or sp.key_sum == 0 or sp.budget == 0:
            shares = {}
        elif spec.method == "per_unit" and spec.rate_sek is not None:
            try:
                shares = per_unit(sp.budget, weights, spec.rate_sek)
            except PayoutError as exc:
                raise PayoutError(error(f"pot {sp.id}", str(exc))) from None
        else:
            shares = apportion(sp.budget, weights)
    for row in sp.rows:
        share = shares.get(row.recipient.code)
        if share is not None:
            for cond in matching:
                row.qualification.checks.append(check_matching_funds(cond, row.recipient, data, share.amount))
        row.share = share
        row.amount = share.amount if share is not None and row.qualified else 0
        # withheld only for a condition that can still be met: a recipient replaced by a higher
        # exclusive tier is paid there, and its allocation here is never paid
        unmet = [c for c in row.qualification.checks if not c.passed]
        held = share is not None and unmet and sp.pot.unmet == "withheld" and any(c.kind != "tier" for c in unmet)
        row.withheld = share.amount if held else 0


def _check_money(result: Result) -> None:
    """Money invariants that hold whatever a rule file says; a breach is refused, never written."""
    for pot in result.rules.pots:
        parts = [sp for sp in result.subpots if sp.pot is pot]
        paid = sum(sp.paid + sp.withheld for sp in parts)
        if paid > pot.amount_sek or any(row.amount < 0 for sp in parts for row in sp.rows):
            raise PayoutError(error(f"pot {pot.id}", f"would pay {paid} kr of a pot of {pot.amount_sek} kr",
                                    "the rule file pays the same money twice: check its recipients and table"))


def _assert_exact(result: Result) -> None:
    """Paid + withheld + unpaid = budget for every sub-pot, and the sub-pots add up to their pot."""
    for pot in result.rules.pots:
        parts = [sp for sp in result.subpots if sp.pot is pot]
        assert sum(sp.budget for sp in parts) == pot.amount_sek, f"{pot.id}: sub-pots do not add up to the pot"
        for sp in parts:
            assert sp.paid + sp.withheld + sp.unpaid == sp.budget, f"{sp.id}: paid + withheld + unpaid != budget"
            assert 0 <= sp.paid and 0 <= sp.withheld, f"{sp.id}: negative payout"
            if sp.pot.distribute.method != "fixed_table":
                assert sp.paid + sp.withheld <= sp.budget, f"{sp.id}: paid more than the budget"
