#!/usr/bin/env python3
"""Digits workflow (fixture problem of spec §6): `-T detarget` hides the targets of the test files,
`-T perf` scores the algo's predictions (accuracy). Standard library only, so it starts fast."""

import argparse
import csv
import json
import sys
from pathlib import Path


def data_files(directory: Path) -> list[Path]:
    """The data files are the regular files directly in the directory (skip pred/)."""
    return sorted(path for path in directory.iterdir() if path.is_file())


def detarget(hidden: Path, shared: Path) -> None:
    for path in data_files(hidden / "test"):
        with path.open(newline="") as source, (shared / "test" / path.name).open("w", newline="") as target:
            rows = csv.reader(source)
            header = next(rows)
            keep = [index for index, name in enumerate(header) if name != "target"]
            writer = csv.writer(target)
            for row in [header, *rows]:
                writer.writerow([row[index] for index in keep])


def targets(path: Path) -> list[int]:
    with path.open(newline="") as source:
        return [int(row["target"]) for row in csv.DictReader(source)]


def predictions(path: Path, expected: int) -> list[int]:
    labels = [int(line) for line in path.read_text().split()]
    if len(labels) != expected:
        sys.exit(f"{path}: {len(labels)} predictions for {expected} rows")
    return labels


def accuracy(truth: list[int], predicted: list[int]) -> tuple[int, int]:
    return sum(1 for a, b in zip(truth, predicted, strict=True) if a == b), len(truth)


def perf(hidden: Path, shared: Path) -> None:
    train_perf = {}
    for path in data_files(shared / "train"):
        truth = targets(path)
        correct, total = accuracy(truth, predictions(shared / "train" / "pred" / path.name, len(truth)))
        train_perf[path.name] = correct / total
    test_perf = {}
    all_correct = all_rows = 0
    for path in data_files(hidden / "test"):
        truth = targets(path)
        correct, total = accuracy(truth, predictions(shared / "test" / "pred" / path.name, len(truth)))
        test_perf[path.name] = correct / total
        all_correct += correct
        all_rows += total
    report = {"perf": all_correct / all_rows, "train_perf": train_perf, "test_perf": test_perf}
    (hidden / "perf" / "performance.json").write_text(json.dumps(report))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-T", dest="task", choices=["detarget", "perf"], required=True)
    parser.add_argument("-i", dest="hidden", type=Path, required=True)
    parser.add_argument("-s", dest="shared", type=Path, required=True)
    args = parser.parse_args()
    if args.task == "detarget":
        detarget(args.hidden, args.shared)
    else:
        perf(args.hidden, args.shared)


if __name__ == "__main__":
    main()
