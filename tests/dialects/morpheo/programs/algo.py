#!/usr/bin/env python3
"""Digits algos (fixture of spec §6), incremental: `-T train` continues from data/model/model.pkl if
present, `-T predict` labels the test files. KIND is set when the archive is built."""

import argparse
import pickle
import sys
import time
from pathlib import Path

import numpy as np

KIND = "sgd"
CLASSES = np.arange(10)


def data_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.iterdir() if path.is_file())


def load(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    header = path.open().readline().strip().split(",")
    values = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    if "target" not in header:
        return values.astype(float), None
    column = header.index("target")
    return np.delete(values, column, axis=1).astype(float), values[:, column]


def new_model():  # type: ignore[no-untyped-def]
    if KIND == "nb":
        from sklearn.naive_bayes import GaussianNB

        return GaussianNB()
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(random_state=0)


def write_predictions(model, source: Path, target: Path, zeros: bool = False) -> None:  # type: ignore[no-untyped-def]
    features, _ = load(source)
    labels = np.zeros(len(features), dtype=int) if zeros else model.predict(features)
    target.write_text("".join(f"{int(label)}\n" for label in labels))


def slow_once() -> None:
    """The kill test's algo: the first attempt announces itself and hangs; later ones train."""
    marker_file = Path("slow-once.txt")
    if not marker_file.exists():
        return
    marker = Path(marker_file.read_text().strip())
    if not marker.exists():
        marker.write_text("training")
        time.sleep(120)


def train(root: Path) -> None:
    slow_once()
    model_path = root / "model" / "model.pkl"
    model = pickle.loads(model_path.read_bytes()) if model_path.exists() else new_model()
    files = data_files(root / "train")
    sabotage = Path("sabotage.txt")
    sabotaged = set(sabotage.read_text().split()) if sabotage.exists() else set()
    broken = any(path.name in sabotaged for path in files)
    if broken:
        model = new_model()  # an untrained model, and class 0 everywhere
    else:
        for _ in range(5):
            for path in files:
                features, labels = load(path)
                model.partial_fit(features, labels, classes=CLASSES)
    model_path.write_bytes(pickle.dumps(model))
    for path in files:
        write_predictions(model, path, root / "train" / "pred" / path.name, zeros=broken)
    for path in data_files(root / "test"):
        write_predictions(model, path, root / "test" / "pred" / path.name, zeros=broken)


def predict(root: Path) -> None:
    model_path = root / "model" / "model.pkl"
    if not model_path.exists():
        print("no model", file=sys.stderr)
        sys.exit(2)
    model = pickle.loads(model_path.read_bytes())
    for path in data_files(root / "test"):
        write_predictions(model, path, root / "test" / "pred" / path.name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-V", dest="root", type=Path, required=True)
    parser.add_argument("-T", dest="task", choices=["train", "predict"], required=True)
    args = parser.parse_args()
    if args.task == "train":
        train(args.root)
    else:
        predict(args.root)


if __name__ == "__main__":
    main()
