"""Accuracy against average bits per weight: uniform widths against `pathq model --bits-budget`.

For each reference network (build/models, written by train_reference_models) and method, runs
`pathq model` in sequential mode at uniform widths 2, 3, 4 and at budgets between them, and prints
a markdown table (accuracy, achieved bits per weight, the widths chosen) and a CSV for docs/plots.py.

    /usr/bin/python3 bench/bits_budget.py build/tools/pathq build/models docs/data/bits_budget.csv \\
        [--networks mlp cnn resmlp dsnet] [--methods gpfq optq] [--budgets 2.25 2.5 2.75 3 3.5 4]
"""
import argparse
import csv
import json
import os
import subprocess
import tempfile

DATA = "/usr/share/datasets/fashion-mnist"


def run(pathq, models, net, method, extra):
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "r.json")
        cmd = [pathq, "model", "--network", os.path.join(models, net + ".json"),
               "--weights", os.path.join(models, net + ".safetensors"),
               "--calibration", os.path.join(DATA, "train-images-idx3-ubyte.gz"), "--samples", "1024",
               "--test-inputs", os.path.join(DATA, "t10k-images-idx3-ubyte.gz"),
               "--test-labels", os.path.join(DATA, "t10k-labels-idx1-ubyte.gz"),
               "--method", method, "--out", os.path.join(tmp, "q.safetensors"), "--report", report, "--quiet", *extra]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            if "below the cheapest allocation" in p.stderr:
                return None  # the budget cannot be met with these choices
            raise RuntimeError(" ".join(cmd) + ": " + p.stderr)
        with open(report) as f:
            return json.load(f)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("pathq")
    p.add_argument("models")
    p.add_argument("csv")
    p.add_argument("--networks", nargs="+", default=["mlp", "cnn", "resmlp", "dsnet"])
    p.add_argument("--methods", nargs="+", default=["gpfq", "optq"])
    p.add_argument("--budgets", type=float, nargs="+", default=[2.25, 2.5, 2.75, 3.0, 3.5, 4.0])
    p.add_argument("--choices", default="2,3,4,8")
    args = p.parse_args()
    rows = []
    print("| network | method | configuration | bits per weight | accuracy | widths |")
    print("|---|---|---|---|---|---|")
    for net in args.networks:
        for method in args.methods:
            configs = [("uniform %d" % b, ["--bits", str(b)]) for b in (2, 3, 4)]
            configs += [("budget %g" % b, ["--bits-budget", str(b), "--bits-choices", args.choices])
                        for b in args.budgets]
            for name, extra in configs:
                r = run(args.pathq, args.models, net, method, extra)
                if r is None:
                    print("| %s | %s | %s | below the cheapest allocation | | |" % (net, method, name), flush=True)
                    continue
                widths = " ".join(str(l["bits"]) for l in r["layers"] if not l["skipped"])
                acc = r["model"]["quantized_accuracy"]
                rows.append({"network": net, "method": method, "configuration": name,
                             "bits_per_weight": r["bits_per_weight"], "accuracy": acc,
                             "float_accuracy": r["model"]["float_accuracy"], "widths": widths})
                print("| %s | %s | %s | %.3f | %.2f %% | %s |" % (net, method, name, r["bits_per_weight"], 100 * acc,
                                                                 widths), flush=True)
    with open(args.csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
