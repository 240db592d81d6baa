"""The whole native zoo on Split MNIST (class-incremental, 5 tasks, 3 seeds), as an experiment.

Not a test: it takes a while (tens of minutes on 2 cores). It runs `lifelong compare`
on the grid below into reports/zoo-split-mnist/ (rerun it to resume), then writes the
ACC / forgetting table between the markers in benchmarks/README.md.

Expected ordering from the literature (van de Ven et al.): fine-tuning ≈ EWC ≈ SI ≈ LwF
≪ A-GEM < ER family < Joint.
"""
import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lifelong.experiment.compare import compare  # noqa: E402
from lifelong.experiment.store import Store  # noqa: E402
from lifelong.reporting import aggregate  # noqa: E402

STRATEGIES = ["naive", "ewc", "online-ewc", "si", "lwf", "agem", "gem", "replay", "er-ace", "der", "derpp",
              "icarl", "gdumb", "mer", "lamaml", "oml", "cumulative", "joint"]
BEGIN, END = "<!-- zoo-split-mnist:begin -->", "<!-- zoo-split-mnist:end -->"


def table(folder: Path) -> str:
    agg = aggregate(Store(folder / "runs.sqlite").results(), reference="naive")
    lines = ["| strategy | ACC (%) | forgetting (%) | BWT (%) | seeds |", "|---|---:|---:|---:|---:|"]
    rows = []
    for name in agg.strategies:
        g = agg.group(agg.scenarios[0], name)
        acc, forg, bwt = (g.summary(m) for m in ("acc", "forgetting", "bwt"))
        if not acc.n:
            rows.append((-1.0, f"| {name} | failed: {g.failed[0][1] if g.failed else 'no run'} | | | 0 |"))
            continue
        rows.append((acc.mean or 0.0, f"| {name} | {100 * acc.mean:.1f} ± {100 * acc.std:.1f} | "
                                      f"{100 * forg.mean:.1f} ± {100 * forg.std:.1f} | "
                                      f"{100 * bwt.mean:.1f} ± {100 * bwt.std:.1f} | {acc.n} |"))
    return "\n".join(lines + [r for _, r in sorted(rows, key=lambda row: -row[0])])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--out", default=str(ROOT / "reports" / "zoo-split-mnist"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        experiment = Path(tmp) / "zoo.yaml"
        experiment.write_text("name: zoo-split-mnist\nscenarios: [split-mnist]\n"
                              f"strategies: [{', '.join(STRATEGIES)}]\nseeds: 3\nreference: naive\n")
        folder = compare(experiment, out=args.out, jobs=args.jobs)
    text = table(folder)
    readme = ROOT / "benchmarks" / "README.md"
    body = readme.read_text()
    start, end = body.index(BEGIN) + len(BEGIN), body.index(END)
    readme.write_text(body[:start] + "\n" + text + "\n" + body[end:])
    print(text)


if __name__ == "__main__":
    main()
