"""Attest and payment files: money moves only after two attests, exactly as totals.csv says, once."""

from __future__ import annotations

import json
import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from conftest import ROOT, SAMPLE, boundary, cli, read_csv

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}


def attested(out: Path) -> None:
    assert cli("attest", str(out), "--by", "Anna Exempelsson", "--role", "beslut").returncode == 0
    assert cli("attest", str(out), "--by", "Bertil Bengtsson", "--role", "behorighet").returncode == 0


@pytest.fixture
def run(tmp_path, sample_run) -> Path:
    return sample_run(2011, tmp_path / "runs" / "2011")


def issued_xml(out: Path) -> tuple[Path, etree._Element]:
    (path,) = sorted((out / "payments").glob("*.xml"))
    return path, etree.parse(str(path)).getroot()


def test_no_payment_file_without_two_attests_by_two_people(run):
    done = cli("payments", str(run))
    assert done.returncode == 1 and "no valid beslutsattest" in done.stderr and "no valid behörighetsattest" in done.stderr
    assert cli("attest", str(run), "--by", "Anna Exempelsson", "--role", "beslut").returncode == 0
    same = cli("attest", str(run), "--by", "anna  EXEMPELSSON", "--role", "behorighet")
    assert same.returncode == 1 and "must be given by someone else" in same.stderr
    assert cli("attest", str(run), "--by", "X", "--role", "chef").returncode == 1
    assert cli("payments", str(run)).returncode == 1
    assert not (run / "payments").exists()


def test_the_payment_file_is_valid_pain001_and_pays_exactly_totals(run):
    from skl_payout.payments import schema_problems

    attested(run)
    done = cli("payments", str(run), "--execution-date", "2012-02-20")
    assert done.returncode == 0, done.stderr
    path, root = issued_xml(run)
    assert schema_problems(path.read_bytes(), "pain.001.001.09") == []
    totals = {(r["recipient_type"], r["code"]): int(r["amount_sek"]) for r in read_csv(run / "totals.csv")}
    paid = {k: v for k, v in totals.items() if v}
    txs = root.findall(".//p:CdtTrfTxInf", NS)
    assert len(txs) == len(paid) == int(root.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=NS))
    control = Decimal(root.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=NS))
    assert control == sum(paid.values()) == sum(Decimal(t.findtext("p:Amt/p:InstdAmt", namespaces=NS)) for t in txs)
    assert root.findtext(".//p:ReqdExctnDt/p:Dt", namespaces=NS) == "2012-02-20"
    ids = [t.findtext("p:PmtId/p:EndToEndId", namespaces=NS) for t in txs]
    assert len(set(ids)) == len(ids) and all(len(i) <= 35 for i in ids)
    payees = {(r["type"], r["code"]): r for r in read_csv(SAMPLE / "2011" / "payees.csv")}
    letter = {"kommun": "K", "landsting": "L", "lan": "C"}
    for (rtype, code), amount in paid.items():
        tx = next(t for t in txs if t.findtext("p:PmtId/p:EndToEndId", namespaces=NS).endswith(letter[rtype] + code))
        assert Decimal(tx.findtext("p:Amt/p:InstdAmt", namespaces=NS)) == amount
        assert tx.findtext("p:Cdtr/p:Nm", namespaces=NS) == payees[rtype, code]["payee"]
        assert tx.findtext("p:CdtrAcct/p:Id/p:Othr/p:Id", namespaces=NS) == payees[rtype, code]["account"].replace("-", "")
    assert "S2011/983/FST" in txs[0].findtext("p:RmtInf/p:Ustrd", namespaces=NS)
    people = read_csv(next((run / "payments").glob("*.csv")))
    assert sum(int(r["amount_sek"]) for r in people) == sum(paid.values())


def test_pain001_version_03_on_request(run):
    from skl_payout.payments import schema_problems

    attested(run)
    assert cli("payments", str(run), "--version", "pain.001.001.03").returncode == 0
    path, root = issued_xml(run)
    assert root.tag == "{urn:iso:std:iso:20022:tech:xsd:pain.001.001.03}Document"
    assert schema_problems(path.read_bytes(), "pain.001.001.03") == []


def test_a_second_issue_is_refused_unless_reissued_and_the_ledger_keeps_both(run):
    attested(run)
    assert cli("payments", str(run)).returncode == 0
    again = cli("payments", str(run))
    assert again.returncode == 1 and "already issued" in again.stderr and "SKLP-2011-" in again.stderr
    assert cli("payments", str(run), "--reissue").returncode == 0
    ledger = json.loads((run / "payments" / "ledger.json").read_text(encoding="utf-8"))["issued"]
    assert [e["message_id"][-2:] for e in ledger] == ["-1", "-2"] and ledger[1]["reissue_of"] == ledger[0]["message_id"]
    (run / "payments" / "ledger.json").write_text(json.dumps({"tool": "skl-payout", "issued": []}), encoding="utf-8")
    tampered = cli("payments", str(run), "--reissue")
    assert tampered.returncode == 1 and "cannot be told" in tampered.stderr


def test_a_change_after_the_attest_voids_it_and_stops_payment(run):
    attested(run)
    totals = run / "totals.csv"
    totals.write_text(totals.read_text(encoding="utf-8").replace(",275891", ",975891"), encoding="utf-8")
    done = cli("payments", str(run))
    assert done.returncode == 1 and "totals.csv" in done.stderr and not (run / "payments").exists()
    checked = cli("verify", str(run))
    assert checked.returncode == 1 and "attest VOID" in checked.stderr


def test_an_attested_run_is_never_replaced(run):
    attested(run)
    done = cli("run", "--year", "2011", "--out", str(run))
    assert done.returncode == 1 and "never replaced" in done.stderr and (run / "attest.json").exists()


def test_a_correction_after_payment_pays_only_the_differences(run, tmp_path):
    attested(run)
    assert cli("payments", str(run)).returncode == 0
    near = boundary(2011, 50, "below")
    new = corrected_run(tmp_path, "2011-corrected")
    done = cli("payments", str(new), "--paid", str(run))
    assert done.returncode == 0, done.stderr
    before = {(r["recipient_type"], r["code"]): int(r["amount_sek"]) for r in read_csv(run / "totals.csv")}
    after = {(r["recipient_type"], r["code"]): int(r["amount_sek"]) for r in read_csv(new / "totals.csv")}
    more = {k: after[k] - before.get(k, 0) for k in after if after[k] > before.get(k, 0)}
    less = {k: before[k] - after.get(k, 0) for k in before if after.get(k, 0) < before[k]}
    _, root = issued_xml(new)
    txs = root.findall(".//p:CdtTrfTxInf", NS)
    paid = {t.findtext("p:PmtId/p:EndToEndId", namespaces=NS)[-5:]: int(Decimal(t.findtext("p:Amt/p:InstdAmt",
                                                                                           namespaces=NS))) for t in txs}
    assert sorted(paid.values()) == sorted(more.values()) and len(paid) == len(more) == 1
    reclaims = read_csv(new / "payments" / "reclaims.csv")
    assert {(r["recipient_type"], r["code"]): int(r["reclaim_sek"]) for r in reclaims} == less
    assert all(r["reason"] and r["reason"] != "no reason found" for r in reclaims)
    assert sum(more.values()) - sum(less.values()) == sum(after.values()) - sum(before.values())
    # the letters of the correction state what was paid, the new amount and the difference
    undated = cli("letters", "--out", str(new), "--paid", str(run), "--format", "md")
    assert undated.returncode == 1 and "give its date" in undated.stderr  # a correction is a new decision
    assert cli("letters", "--out", str(new), "--paid", str(run), "--format", "md", "--date", "2012-04-02").returncode == 0
    text = next((new / "letters").glob(f"kommun-{near['code']}-*.md")).read_text(encoding="utf-8")
    assert "Rättelse av tidigare beslut" in text and "betalas ut nu" in text and "efter rättelse" in text
    assert "Datum: 2012-04-02" in text and "utbetalas till" in text.lower()
    (loser,) = [k for k in list(less)[:1]]
    other = next((new / "letters").glob(f"{loser[0]}-{loser[1]}-*.md")).read_text(encoding="utf-8")
    assert "ska betalas tillbaka" in other and "utbetalas till Bankgiro" not in other  # nothing is paid to it now
    again = cli("payments", str(new), "--paid", str(run))
    assert again.returncode == 1 and "already issued" in again.stderr  # nothing is paid twice


def test_missing_payees_are_all_named_at_once(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE / "2011", data)
    payees = data / "payees.csv"
    lines = payees.read_text(encoding="utf-8").splitlines(True)
    payees.write_text("".join(line for line in lines if not line.startswith(("kommun,0114,", "kommun,0180,"))),
                      encoding="utf-8")
    out = tmp_path / "out"
    assert cli("run", "--year", "2011", "--data", str(data), "--out", str(out)).returncode == 0
    attested(out)
    done = cli("payments", str(out))
    assert done.returncode == 1 and "0114" in done.stderr and "0180" in done.stderr and not (out / "payments").exists()


def test_amounts_are_written_from_integers_only():
    from skl_payout.payments import ore

    assert ore(163500000) == "163500000.00" and ore(0) == "0.00"
    for bad in (1.5, -1, True, "12"):
        with pytest.raises(ValueError):
            ore(bad)


def test_the_shipped_settings_name_a_payer():
    from skl_payout.settings import load

    settings, _ = load(ROOT / "skl-payout.yaml")
    assert settings.sender.organisation_number and settings.sender.account_type == "bankgiro"


# --- what a hostile tester found -----------------------------------------------------------------

def corrected_run(tmp_path: Path, name: str, extra: int = 1) -> Path:
    """A run of corrected data (one more registration for a boundary kommun) beside the others."""
    data = tmp_path / f"data-{name}"
    shutil.copytree(SAMPLE / "2011", data)
    near = boundary(2011, 50, "below")
    path = data / "palliativregistret.csv"
    row = f"{near['code']},{near['registered_deaths']},{near['deaths']}"
    path.write_text(path.read_text(encoding="utf-8").replace(
        row, f"{near['code']},{int(near['registered_deaths']) + extra},{near['deaths']}"), encoding="utf-8")
    out = tmp_path / "runs" / name
    assert cli("run", "--year", "2011", "--data", str(data), "--out", str(out)).returncode == 0
    attested(out)
    return out


def total_of(out: Path) -> int:
    return json.loads((out / "payments" / "ledger.json").read_text(encoding="utf-8"))["issued"][-1]["total_sek"]


def test_a_year_is_paid_once_across_run_folders_and_corrections_chain(run, tmp_path):
    attested(run)
    assert cli("payments", str(run)).returncode == 0
    b = corrected_run(tmp_path, "b")
    again = cli("payments", str(b))  # a second full payment of the same year, from another folder
    assert again.returncode == 1 and "has been paid" in again.stderr and not (b / "payments").exists()
    assert cli("payments", str(b), "--paid", str(run)).returncode == 0
    first = total_of(b)
    assert cli("payments", str(b), "--reissue").returncode == 0  # the reissue pays the same differences
    assert total_of(b) == first < 1_000_000
    c = corrected_run(tmp_path, "c")
    stale = cli("payments", str(c), "--paid", str(run))
    assert stale.returncode == 1 and "already corrected by" in stale.stderr
    done = cli("payments", str(c), "--paid", str(b))  # the same data as b: nothing more to pay
    assert done.returncode == 0 and "Nothing to pay" in done.stdout and not list((c / "payments").glob("*.xml"))


def test_paid_must_be_a_run_of_the_same_agreement(run, tmp_path, sample_run):
    other = tmp_path / "runs" / "2010"
    sample_run(2010, other)
    attested(other)
    assert cli("payments", str(other)).returncode == 0
    attested(run)
    done = cli("payments", str(run), "--paid", str(other))
    assert done.returncode == 1 and "same agreement" in done.stderr


def test_a_removed_ledger_never_makes_a_run_payable_again(run):
    attested(run)
    assert cli("payments", str(run)).returncode == 0
    (run / "payments" / "ledger.json").unlink()
    done = cli("payments", str(run))
    assert done.returncode == 1 and "the ledger does not record" in done.stderr


@pytest.mark.parametrize("name", ["[/bold]", "Аnna Exempelsson", "\u200b", "x", "Anna\u00adExempelsson"])
def test_an_attester_is_a_person_with_a_name_that_cannot_pass_for_another(run, name):
    done = cli("attest", str(run), "--by", name, "--role", "beslut")
    assert done.returncode == 1 and "Traceback" not in done.stderr and "not a person's name" in done.stderr


def test_the_same_name_written_differently_is_the_same_person(run):
    assert cli("attest", str(run), "--by", "Anna Exempelsson", "--role", "beslut").returncode == 0
    for same in ("anna exempelsson.", "Ａｎｎａ Ｅｘｅｍｐｅｌｓｓｏｎ"):  # fullwidth letters are the same letters
        done = cli("attest", str(run), "--by", same, "--role", "behorighet")
        assert done.returncode == 1 and "someone else" in done.stderr, same
    record = json.loads((run / "attest.json").read_text(encoding="utf-8"))["attests"][0]
    assert record["user"]  # the operating-system account beside the name


def test_a_payee_name_no_payment_file_can_carry_is_refused_at_the_run(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE / "2011", data)
    payees = data / "payees.csv"
    payees.write_text(payees.read_text(encoding="utf-8").replace("Upplands Väsby kommun", "Upplands\ufffe Väsby"),
                      encoding="utf-8")
    done = cli("run", "--year", "2011", "--data", str(data), "--out", str(tmp_path / "out"))
    assert done.returncode == 1 and "payees.csv" in done.stderr and "column payee" in done.stderr


def test_the_payer_account_and_the_execution_date_are_checked(run, tmp_path):
    attested(run)
    settings = tmp_path / "s.yaml"
    settings.write_text((ROOT / "skl-payout.yaml").read_text(encoding="utf-8").replace("5050-1055", "5050-1056"),
                        encoding="utf-8")
    done = cli("payments", str(run), "--settings", str(settings))
    assert done.returncode == 1 and "check digit" in done.stderr
    for when in ("20120220", "2012-W08-1", "1900-01-01", "9999-12-31"):
        done = cli("payments", str(run), "--execution-date", when)
        assert done.returncode == 1, when
    assert not (run / "payments").exists()


def test_real_data_is_paid_once_wherever_the_run_folders_are(tmp_path):
    """Runs of real data (no SYNTHETIC.txt) enter the machine's register of paid runs: a second full payment
    of the same agreement from a folder elsewhere is refused; sample-data trials never enter it."""
    data = tmp_path / "data"
    shutil.copytree(SAMPLE / "2011", data)
    (data / "SYNTHETIC.txt").unlink()
    first, second = tmp_path / "a" / "2011", tmp_path / "elsewhere" / "b" / "2011"
    for out in (first, second):
        assert cli("run", "--year", "2011", "--data", str(data), "--out", str(out)).returncode == 0
        attested(out)
    assert cli("payments", str(first)).returncode == 0
    register = json.loads(Path(os.environ["SKL_PAYOUT_REGISTER"]).read_text(encoding="utf-8"))["paid"]
    assert [Path(e["folder"]) for e in register] == [first.resolve()]
    done = cli("payments", str(second))
    assert done.returncode == 1 and "has been paid" in done.stderr and str(first.resolve()) in done.stderr
    assert cli("payments", str(second), "--paid", str(first)).returncode == 0  # as a correction: the differences
    assert total_of(second) == 0
