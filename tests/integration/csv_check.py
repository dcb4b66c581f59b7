#!/usr/bin/env python3
"""Parses the compensation CSV with Python's csv module (an RFC 4180 reader independent of
pactwatch) and checks it against the JSON report of the same period: same rows, same amounts,
CRLF line ends, totals per currency that add up. Exit 0 when they agree."""
import csv
import io
import json
import sys
from decimal import Decimal


def main(csv_path, json_path):
    raw = open(csv_path, "rb").read().decode("utf-8")
    problems = []
    if "\r\n" not in raw or raw.replace("\r\n", "").count("\n"):
        problems.append("lines must end in CRLF")
    rows = list(csv.DictReader(io.StringIO(raw, newline="")))
    report = json.load(open(json_path))
    statements = [r for r in rows if r["partner"] != "TOTAL"]
    totals = [r for r in rows if r["partner"] == "TOTAL"]
    if len(statements) != len(report["statements"]):
        problems.append(f"{len(statements)} statement rows, the JSON has {len(report['statements'])}")
    for row, st in zip(statements, report["statements"]):
        for key in ("partner", "contract", "currency", "status", "total", "base", "bonus", "credits"):
            if row[key] != str(st[key]):
                problems.append(f"{st['partner']}: {key} is {row[key]!r} in CSV, {st[key]!r} in JSON")
        # Text a spreadsheet would run as a formula carries a leading apostrophe in the CSV.
        for key in ("partner_name", "contract_description"):
            text = st[key]
            expected = "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
            if row[key] != expected:
                problems.append(f"{st['partner']}: {key} is {row[key]!r} in CSV, {expected!r} expected from the JSON")
    sums = {}
    for row in statements:
        if row["status"] != "preview":
            sums[row["currency"]] = sums.get(row["currency"], Decimal(0)) + Decimal(row["total"])
    for t in totals:
        if Decimal(t["total"]) != sums.get(t["currency"]):
            problems.append(f"TOTAL {t['currency']} {t['total']} is not the sum {sums.get(t['currency'])}")
        if report["totals"].get(t["currency"]) != t["total"]:
            problems.append(f"TOTAL {t['currency']} differs from the JSON report")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
