"""Swedish number formatting for what people read (babel), exact for what machines read."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import lru_cache

LOCALE = "sv_SE"
NBSP = "\u00a0"


def kr(amount: int, nbsp: bool = True) -> str:
    """1234567 -> '1 234 567 kr' (no-break spaces unless nbsp=False)."""
    return f"{number(amount, nbsp)}{NBSP if nbsp else ' '}kr"


def number(value: int, nbsp: bool = True) -> str:
    """1234567 -> '1 234 567'. Whole numbers take the fast path, which gives what babel gives for sv_SE
    (tests/test_faithful.py compares them); it runs for every figure of every row and letter."""
    if type(value) is int:
        text = f"{value:,}".replace(",", NBSP)
    else:
        from babel.numbers import format_decimal

        text = format_decimal(value, format="#,##0", locale=LOCALE)
    return text if nbsp else text.replace(NBSP, " ")


def floor_decimal(value: Fraction, places: int) -> Decimal:
    """Truncate towards minus infinity, so a shown value never looks past a threshold it missed."""
    scale = 10**places
    return (Decimal(value.numerator * scale // value.denominator) / scale).quantize(
        Decimal(1).scaleb(-places), rounding=ROUND_FLOOR
    )


def decimal_text(value: Decimal, places: int) -> str:
    """Decimal('1234.5'), 1 -> '1 234,5' as babel writes it for sv_SE (tests compare them), without
    babel's cost: this runs for every share shown in every row and letter. The value already has
    `places` decimals (floored or rounded exactly by the caller), so no rounding happens here."""
    return f"{value:,.{places}f}".translate({ord(","): NBSP, ord("."): ","})


def percent(value: Fraction, places: int = 1, nbsp: bool = True) -> str:
    """Fraction(1, 2) -> '50,0 %', floored (49.99 % shows as 49,9 %, never 50,0 %)."""
    text = f"{decimal_text(floor_decimal(value * 100, places), places)}{NBSP}%"
    return text if nbsp else text.replace(NBSP, " ")


def measure_percent(value: Fraction, thresholds: Fraction | list[Fraction], nbsp: bool = True) -> str:
    """A measured share as people round it (3/7 -> '42,9 %'), but never on the wrong side of a threshold.

    Where the usual rounding would cross a threshold it is compared with (49,996 % of a 50 % requirement
    shows as 50,0 %), as many decimals as it takes are shown (49,996 %). Give every threshold the same
    measure meets (50 % and 70 %), so one letter shows one value for it. The verdict always comes from
    the exact comparison, never from this text.
    """
    thresholds = thresholds if isinstance(thresholds, list) else [thresholds]
    # in whole numbers (this runs for every measure of every row and letter): the measure n/d percent,
    # each limit a/b percent, and a shown value w/10^p rounded half up, w = floor(n·10^p/d + 1/2)
    n, d = value.numerator * 100, value.denominator
    sides = [(t.numerator * 100, t.denominator, n * t.denominator >= t.numerator * 100 * d) for t in thresholds]
    for places in range(1, 7):
        scale = 10**places
        whole = (2 * n * scale + d) // (2 * d)
        if all((whole * b >= a * scale) == above for a, b, above in sides):
            if whole < 0:
                return _percent_text(Decimal(whole).scaleb(-places), places, nbsp)
            units, decimals = divmod(whole, scale)
            space = NBSP if nbsp else " "
            return f"{units:,}".replace(",", space) + f",{decimals:0{places}d}{space}%"
    exact = value * 100
    limits = [t * 100 for t in thresholds]
    shown = _rounded(exact, 6, ROUND_HALF_UP)
    for limit in limits:  # beyond six places, round towards the true side of each threshold it would cross
        if (shown >= limit) != (exact >= limit):
            shown = _rounded(exact, 6, ROUND_CEILING if exact >= limit else ROUND_FLOOR)
    return _percent_text(shown, 6, nbsp)


def _rounded(value: Fraction, places: int, rounding: str) -> Decimal:
    """Exact rounding of a non-negative fraction (no detour through binary or a cut-off decimal)."""
    scaled = value * 10**places
    if rounding == ROUND_HALF_UP:
        whole = (scaled + Fraction(1, 2)).__floor__()
    elif rounding == ROUND_CEILING:
        whole = scaled.__ceil__()
    else:
        whole = scaled.__floor__()
    return Decimal(whole).scaleb(-places)


def _percent_text(shown: Decimal, places: int, nbsp: bool) -> str:
    text = f"{decimal_text(shown, places)}{NBSP}%"
    return text if nbsp else text.replace(NBSP, " ")


@lru_cache(maxsize=256)  # a rule file has a handful of thresholds, said in every row
def threshold_percent(value: Fraction, nbsp: bool = True) -> str:
    """A threshold as written in the agreement: '50 %', '100 %', '33,3333 %' only if it must."""
    for places in range(0, 5):
        if (value * 100 * 10**places).denominator == 1:
            return percent(value, places, nbsp)
    return percent(value, 4, nbsp)


def ratio_text(value: Fraction, places: int = 6) -> str:
    """Machine-readable ratio for CSVs, floored: '0.512500'."""
    return str(floor_decimal(value, places))


def yes_no(flag: bool) -> str:
    return "ja" if flag else "nej"


def ratio_exact(value: Fraction) -> str:
    """A threshold for CSVs as the author wrote it: '0.5', '1'; a fraction ('1/3') only if it must."""
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    return format((Decimal(value.numerator) / Decimal(value.denominator)).normalize(), "f")


def decimal_kr(value: Decimal, nbsp: bool = True) -> str:
    """Decimal('1739.47') -> '1 739,47 kr' (for rates and per-inhabitant figures, never for payouts)."""
    places = max(0, -value.as_tuple().exponent)  # as many decimals as the value has: nothing is rounded
    text = f"{decimal_text(value, places)}{NBSP}kr"
    return text if nbsp else text.replace(NBSP, " ")
