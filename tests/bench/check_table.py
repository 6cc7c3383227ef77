#!/usr/bin/python3
"""Checks the table bench/run_matrix.py printed (//tests/bench:bench_smoke_test).

Well-formed means: the throughput table has a header with one column per caller count and a row
for every operation (the etcd rows only when --etcd=1), each cell "N [MIN–MAX] (P99)" with N > 0
and no errors; the ratio table has the same rows but echo, each cell naming its ratio to echo
(and to etcd for GetMemory and SetMemory when etcd ran); the sidecar's start-up line; and the
GitHub costs table with its three rows of numbers, the task and SetMemory rows with writes
above zero. Timings are never compared with anything.
"""

import argparse
import re
import sys

SIDECAR_ROWS = ["echo (the ceiling)", "GetMemory", "SetMemory", "AcquireLock+ReleaseLock",
                "CreateTask+NextTask+CompleteTask"]
ETCD_ROWS = ["etcd Range", "etcd Put"]
NUM = r"[0-9][0-9,]*(?:\.[0-9]+)?"
CELL = re.compile(rf"^({NUM}) \[({NUM})–({NUM})\] \(({NUM})\)$")
RATIO = re.compile(rf"^{NUM}× echo \({NUM}×\)(?:, {NUM}× etcd)?$")


def number(text):
    return float(text.replace(",", ""))


def tables(text):
    """Each markdown table in `text`: a list of rows, each a list of cell texts."""
    found, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif current:
            found.append(current)
            current = []
    if current:
        found.append(current)
    return found


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--table", required=True)
    p.add_argument("--callers", required=True)
    p.add_argument("--etcd", type=int, default=0)
    args = p.parse_args()
    callers = [int(c) for c in args.callers.split(",")]
    text = open(args.table, encoding="utf-8").read()
    problems = []

    found = tables(text)
    if len(found) != 3:
        print(f"expected 3 tables (throughput, ratios, GitHub), found {len(found)}")
        return 1
    throughput, ratios, github = found

    want_rows = list(SIDECAR_ROWS) + (ETCD_ROWS if args.etcd else [])
    want_head = [f"{c} caller{'s' if c != 1 else ''}" for c in callers]
    if throughput[0][1:] != want_head or not set(throughput[1]) <= {"---"}:
        problems.append(f"throughput header {throughput[:2]}")
    rows = {r[0]: r[1:] for r in throughput[2:]}
    if sorted(rows) != sorted(want_rows):
        problems.append(f"throughput rows {sorted(rows)}, want {sorted(want_rows)}")
    for label, cells in rows.items():
        if len(cells) != len(callers):
            problems.append(f"{label}: {len(cells)} cells")
            continue
        for c, cell in zip(callers, cells):
            m = CELL.match(cell)
            if m is None:
                problems.append(f"{label} x{c}: malformed cell {cell!r}")
                continue
            median, low, high = number(m[1]), number(m[2]), number(m[3])
            if not (0 < low <= median <= high):
                problems.append(f"{label} x{c}: throughput not above zero / out of its range "
                                f"{cell!r}")

    ratio_rows = {r[0]: r[1:] for r in ratios[2:]}
    if ratios[0][1:] != want_head or sorted(ratio_rows) != sorted(
            r for r in want_rows if r != "echo (the ceiling)"):
        problems.append(f"ratio table header or rows: {ratios[0]}, {sorted(ratio_rows)}")
    for label, cells in ratio_rows.items():
        for c, cell in zip(callers, cells):
            if RATIO.match(cell) is None:
                problems.append(f"ratio {label} x{c}: malformed {cell!r}")
            elif args.etcd and label in ("GetMemory", "SetMemory") and "etcd" not in cell:
                problems.append(f"ratio {label} x{c}: no ratio to etcd in {cell!r}")

    if not re.search(r"^Sidecar start-up to listening: median \d+ ms", text, re.M):
        problems.append("no start-up line")

    gh_rows = {r[0]: r[1:] for r in github[2:]}
    want_gh = ["per task (CreateTask+NextTask+CompleteTask)", "per idle worker-hour",
               "per 100 SetMemory"]
    if sorted(gh_rows) != sorted(want_gh):
        problems.append(f"GitHub rows {sorted(gh_rows)}")
    for label, cells in gh_rows.items():
        if len(cells) != 3 or not all(re.fullmatch(NUM, c) for c in cells):
            problems.append(f"GitHub {label}: malformed {cells}")
        elif label != "per idle worker-hour" and number(cells[2]) <= 0:
            problems.append(f"GitHub {label}: no writes counted {cells}")

    for problem in problems:
        print("FAIL:", problem)
    if not problems:
        print("the table is well-formed; every throughput is above zero")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
