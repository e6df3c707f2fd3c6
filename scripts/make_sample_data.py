"""Build sample_data/<year>/ from the real SCB reference files plus seeded synthetic register data.

Real: codes, names, population (31 Dec), deaths 65+. Synthetic (fixed seed, plausible against the
figures the sources publish): palliative registrations, Senior alert units and registrations,
action plans, grundkrav, performance targets and eHealth conditions. Run: `make sample-data`.
Deterministic: the same reference files give byte-identical output.
"""

from __future__ import annotations

import csv
import random
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REF = ROOT / "reference"
OUT = ROOT / "sample_data"
sys.path.insert(0, str(ROOT))

from skl_payout.distribute import apportion  # noqa: E402  (same arithmetic as the tool)


def read(name: str) -> list[dict]:
    with open(REF / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def write(year: int, name: str, columns: list[str], rows: list[list]) -> None:
    folder = OUT / str(year)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)


BOUNDARY_ROWS: list[list] = []  # machine-readable twin of BOUNDARIES.txt, for the tests
KOMMUNER = read("kommuner.csv")
COUNTIES = read("counties.csv")
POP = {(r["kommun_kod"], int(r["ar"])): r for r in read("kommun_folkmangd_2010_2015.csv")}
DEATHS = {(r["kommun_kod"], int(r["ar"])): r for r in read("kommun_doda_2008_2015.csv")}


def base_files(year: int, pop_year: int) -> None:
    write(year, "counties.csv", ["county_code", "name"], [[c["county_code"], c["county_name"]] for c in COUNTIES])
    rows = [[k["kommun_code"], k["kommun_name"], "kommun", k["county_code"]] for k in KOMMUNER]
    rows += [[c["county_code"], c["county_council_name"], "landsting", c["county_code"]] for c in COUNTIES]
    write(year, "authorities.csv", ["code", "name", "type", "county_code"], rows)
    write(year, "population.csv", ["code", "population_total", "population_65plus"],
          [[k["kommun_code"], POP[(k["kommun_code"], pop_year)]["folkmangd_total"],
            POP[(k["kommun_code"], pop_year)]["folkmangd_65plus"]] for k in KOMMUNER])


def coverage_bands(rng: random.Random, codes: list[str], bands: list[tuple[int, float, float]],
                   weight: dict[str, int] | None = None) -> dict[str, float]:
    """Assign each code a target coverage: `count` codes drawn uniformly from [low, high).

    With `weight`, heavier codes tend to come last (the lowest band): large municipalities
    registered less, which is how 210 of 290 can pass 40 % while the nation stood at 41.5 %.
    """
    if weight:
        shuffled = sorted(codes, key=lambda c: rng.random() ** (1 / (1 + weight[c] / 50)))
    else:
        shuffled = codes[:]
        rng.shuffle(shuffled)
    target, i = {}, 0
    for count, low, high in bands:
        for code in shuffled[i:i + count]:
            target[code] = rng.uniform(low, high)
        i += count
    assert i == len(codes), (i, len(codes))
    return target


def registered(rng: random.Random, deaths: int, share: float, low: float, high: float) -> int:
    """Registrations giving a coverage inside [low, high) exactly, never on a boundary by accident."""
    n = int(deaths * share)
    lo = -((-int(low * 1000) * deaths) // 1000)  # ceil(low * deaths)
    n = max(n, lo)
    while n * 1000 >= int(high * 1000) * deaths and n > 0:
        n -= 1
    return min(n, deaths)


def palliative(year: int, rng: random.Random, deaths_of: dict[str, int], k_bands, l_bands, boundaries,
               big_register_less: bool = False, over_100: bool = False) -> list[str]:
    """palliativregistret.csv; returns notes on the deliberate boundary cases."""
    kommun_codes = [k["kommun_code"] for k in KOMMUNER]
    targets = coverage_bands(rng, kommun_codes, k_bands, deaths_of if big_register_less else None)
    band_of = {}
    for code, share in targets.items():
        band_of[code] = next((lo, hi) for _, lo, hi in k_bands if lo <= share < hi)
    rows, notes = {}, []
    for code in kommun_codes:
        d = deaths_of[code]
        lo, hi = band_of[code]
        rows[code] = registered(rng, d, targets[code], lo, hi)
    # deliberate boundary cases: exactly at a threshold and one registration below it
    used = set()
    for threshold_pct, exact in boundaries:
        step = 100 // __import__("math").gcd(threshold_pct, 100)
        # take a kommun from the band it stays in, so the published qualifier counts are kept:
        # "exactly at t" from the band starting at t, "just below t" from the band ending at t
        band = next((lo, hi) for _, lo, hi in k_bands if (lo if exact else hi) == threshold_pct / 100)
        candidates = [c for c in sorted(kommun_codes, key=lambda c: -deaths_of[c])
                      if deaths_of[c] % step == 0 and deaths_of[c] >= 40 and c not in used and band_of[c] == band]
        code = candidates[len(used) % 5]
        used.add(code)
        n = deaths_of[code] * threshold_pct // 100 - (0 if exact else 1)
        rows[code] = n
        name = next(k["kommun_name"] for k in KOMMUNER if k["kommun_code"] == code)
        notes.append(f"{code} {name}: {n} of {deaths_of[code]} = "
                     f"{'exactly' if exact else 'just below'} {threshold_pct} %")
        BOUNDARY_ROWS.append([year, code, name, threshold_pct, "exact" if exact else "below", n, deaths_of[code]])
    if over_100:
        # a kommun with a hospice registers more deaths than its residents had (DOMAIN decision 2): real
        # data that validate and run must accept and report. Taken from the top band, so counts stay.
        top = max(k_bands, key=lambda b: b[1])
        code = min((c for c in kommun_codes if band_of[c] == (top[1], top[2]) and c not in used and deaths_of[c] >= 100),
                   key=lambda c: (deaths_of[c], c))
        rows[code] = deaths_of[code] * 104 // 100
        name = next(k["kommun_name"] for k in KOMMUNER if k["kommun_code"] == code)
        notes.append(f"{code} {name}: {rows[code]} of {deaths_of[code]} = coverage above 100 % (a hospice)")
    out = [[c, rows[c], deaths_of[c]] for c in kommun_codes]
    county_deaths = defaultdict(int)
    for k in KOMMUNER:
        county_deaths[k["county_code"]] += deaths_of[k["kommun_code"]]
    l_targets = coverage_bands(rng, [c["county_code"] for c in COUNTIES], l_bands)
    for c in COUNTIES:
        d = county_deaths[c["county_code"]]
        share = l_targets[c["county_code"]]
        lo, hi = next((lo, hi) for _, lo, hi in l_bands if lo <= share < hi)
        out.append([c["county_code"], registered(rng, d, share, lo, hi), d])
    write(year, "palliativregistret.csv", ["code", "registered_deaths", "deaths"], out)
    return notes


def senior_alert(year: int, rng: random.Random, pop_year: int, kommun_ok: int, landsting_ok: int, per_65: float) -> None:
    pop65 = {k["kommun_code"]: int(POP[(k["kommun_code"], pop_year)]["folkmangd_65plus"]) for k in KOMMUNER}
    county65 = defaultdict(int)
    for k in KOMMUNER:
        county65[k["county_code"]] += pop65[k["kommun_code"]]
    rows = []
    ok = set(rng.sample(sorted(pop65), kommun_ok))
    zero_units = sorted(set(pop65) - ok)[0]  # one kommun that has identified no relevant units
    for code in sorted(pop65):
        units = 0 if code == zero_units else 3 + pop65[code] // 700
        started = units if code in ok else rng.randint(0, max(units - 1, 0))
        regs = int(pop65[code] * per_65 * rng.uniform(0.6, 1.4) * (started / units if units else 0))
        rows.append([code, units, started, regs])
    lok = set(rng.sample([c["county_code"] for c in COUNTIES], landsting_ok))
    for c in COUNTIES:
        code = c["county_code"]
        units = 8 + county65[code] // 4000
        started = units if code in lok else rng.randint(units // 2, units - 1)
        rows.append([code, units, started, int(county65[code] * per_65 * 0.8 * rng.uniform(0.6, 1.4) * started / units)])
    write(year, "senior_alert.csv", ["code", "relevant_units", "units_started", "registrations"], rows)


def year_2010(rng: random.Random) -> list[str]:
    base_files(2010, 2010)
    # measurement period Oct-Dec 2010: a quarter of the real 2010 deaths 65+ (rounded down)
    deaths = {k["kommun_code"]: int(DEATHS[(k["kommun_code"], 2010)]["doda_65plus"]) // 4 for k in KOMMUNER}
    notes = palliative(2010, rng, deaths,
                       [(47, 0.70, 0.97), (163, 0.40, 0.70), (80, 0.05, 0.40)],
                       [(12, 0.40, 0.62), (9, 0.12, 0.40)],
                       [(40, True), (40, False), (70, True), (70, False)], big_register_less=True)
    senior_alert(2010, rng, 2010, 196, 16, 0.018)
    write(2010, "action_plans.csv", ["county_code", "approved"], [[c["county_code"], "ja"] for c in COUNTIES])
    return notes


def year_2011(rng: random.Random) -> list[str]:
    base_files(2011, 2011)
    deaths = {k["kommun_code"]: int(DEATHS[(k["kommun_code"], 2011)]["doda_65plus"]) for k in KOMMUNER}
    notes = palliative(2011, rng, deaths,
                       [(85, 0.70, 0.97), (140, 0.50, 0.70), (65, 0.10, 0.50)],
                       [(2, 0.70, 0.80), (12, 0.50, 0.70), (7, 0.25, 0.50)],
                       [(50, True), (50, False), (70, True), (70, False)], over_100=True)
    senior_alert(2011, rng, 2011, 240, 18, 0.035)
    not_approved = rng.choice([c["county_code"] for c in COUNTIES])
    write(2011, "action_plans.csv", ["county_code", "approved"],
          [[c["county_code"], "nej" if c["county_code"] == not_approved else "ja"] for c in COUNTIES])
    name = next(c["county_name"] for c in COUNTIES if c["county_code"] == not_approved)
    return notes + [f"action plan not approved: {not_approved} {name}"]


def year_2014(rng: random.Random) -> list[str]:
    base_files(2014, 2013)
    counties = [c["county_code"] for c in COUNTIES]
    failing = rng.sample(counties, 3)
    write(2014, "grundkrav.csv", ["county_code", "grundkrav_1", "grundkrav_2"],
          [[c, "nej" if c == failing[0] or c == failing[2] else "ja", "nej" if c in failing[1:] else "ja"]
           for c in counties])
    rows = [[k["kommun_code"], "ja" if rng.random() < 0.85 else "nej"] for k in KOMMUNER]
    rows += [[c, "ja" if rng.random() < 0.8 else "nej"] for c in counties]
    write(2014, "prestationsmal.csv", ["code", "targets_met"], rows)
    # eHealth: the allocation among all counties by population, as the rule file computes it
    pop = defaultdict(int)
    for k in KOMMUNER:
        pop[k["county_code"]] += int(POP[(k["kommun_code"], 2013)]["folkmangd_total"])
    allocation = apportion(70_000_000, dict(pop))
    short, exact, unsigned, no_coord = rng.sample(counties, 4)
    rows = []
    for c in counties:
        a = allocation[c].amount
        own = a if c == exact else (a - 250_000 if c == short else int(a * rng.uniform(1.0, 1.6)) // 1000 * 1000 + 1000)
        rows.append([c, "nej" if c == unsigned else "ja", "nej" if c == no_coord else "ja", own])
    write(2014, "ehalsa.csv", ["county_code", "agreement_signed", "coordinator_appointed", "own_contribution_sek"], rows)
    return [f"grundkrav failing in counties {', '.join(sorted(failing))}",
            f"eHealth: {exact} contributes exactly its allocation, {short} 250 000 kr too little, "
            f"{unsigned} has not signed, {no_coord} has no coordinator"]

# Legal names of kommuner: "<name>s kommun" after a consonant, "<name> kommun" after a vowel or s/x/z;
# these are the exceptions (checked against the kommuner's own names).
LEGAL_NAME_EXCEPTIONS = {"Falun": "Falu kommun", "Orust": "Orust kommun", "Kalmar": "Kalmar kommun",
                         "Gotland": "Region Gotland"}


def legal_name(kommun: str) -> str:
    if kommun in LEGAL_NAME_EXCEPTIONS:
        return LEGAL_NAME_EXCEPTIONS[kommun]
    return f"{kommun} kommun" if kommun[-1].lower() in "aeiouyåäösxz" else f"{kommun}s kommun"


def with_check_digit(rng: random.Random, prefix: str, width: int) -> str:
    from stdnum import luhn

    body = prefix + "".join(rng.choice("0123456789") for _ in range(width - len(prefix) - 1))
    return body + luhn.calc_check_digit(body)


SYNTHETIC_NOTE = """EXEMPEL – syntetiska registeruppgifter

The register figures in this folder (palliativregistret, senior_alert, action plans, grundkrav,
prestationsmal, ehalsa) and every payee in payees.csv (organisation numbers, bankgiro numbers)
are SYNTHETIC, made by scripts/make_sample_data.py. skl-payout marks every letter and report made
from a folder holding this file with "EXEMPEL – syntetiska registeruppgifter". Remove this file
only from a folder that holds real data.
"""


def payees(year: int) -> None:
    """Synthetic payees: real legal names, made-up organisation and bankgiro numbers (valid check digits).
    County-joint money goes to the county council in the sample (a county may designate another body)."""
    rng = random.Random(f"skl-payout-payees-{year}")
    council = {c["county_code"]: (c["county_council_name"], with_check_digit(rng, "2321", 10),
                                  with_check_digit(rng, "", 8)) for c in COUNTIES}
    rows = []
    for k in KOMMUNER:
        if k["kommun_name"] == "Gotland":  # one organisation in both roles
            name, number, giro = council[k["county_code"]]
        else:
            name, number, giro = legal_name(k["kommun_name"]), with_check_digit(rng, "2120", 10), \
                with_check_digit(rng, "", 8)
        rows.append(["kommun", k["kommun_code"], name, f"{number[:6]}-{number[6:]}", "bankgiro",
                     f"{giro[:4]}-{giro[4:]}"])
    for kind in ("landsting", "lan"):
        for code, (name, number, giro) in council.items():
            rows.append([kind, code, name, f"{number[:6]}-{number[6:]}", "bankgiro", f"{giro[:4]}-{giro[4:]}"])
    write(year, "payees.csv", ["type", "code", "payee", "organisation_number", "account_type", "account"], rows)
    (OUT / str(year) / "SYNTHETIC.txt").write_text(SYNTHETIC_NOTE, encoding="utf-8")


def main() -> None:
    notes = {}
    for year, make in ((2010, year_2010), (2011, year_2011), (2014, year_2014)):
        notes[year] = make(random.Random(f"skl-payout-sample-{year}"))
        payees(year)
    lines = [f"- {year}: " + "; ".join(n) for year, n in notes.items()]
    (OUT / "BOUNDARIES.txt").write_text("Deliberate boundary cases (made by scripts/make_sample_data.py)\n"
                                        + "\n".join(lines) + "\n", encoding="utf-8")
    with open(OUT / "boundaries.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["year", "code", "name", "threshold_percent", "case", "registered_deaths", "deaths"])
        writer.writerows(BOUNDARY_ROWS)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
