"""Draws docs/*.png from the CSV files of examples/network_sweeps.cpp and bench/bits_budget.py
(Debian's python3-matplotlib).

Usage: /usr/bin/python3 docs/plots.py CSV_DIR [OUT_DIR (default: docs)]
"""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def save(fig, out, name):
    fig.tight_layout()
    fig.savefig(os.path.join(out, name), dpi=110)
    plt.close(fig)


def main():
    src = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))

    r = rows(os.path.join(src, "scale.csv"))
    all_bits = list(dict.fromkeys(x["bits"] for x in r))
    fig, axes = plt.subplots(1, len(all_bits), figsize=(5 * len(all_bits) + 1, 4), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, bits in zip(axes, all_bits):
        for method in ["MSQ", "GPFQ"]:
            pts = [(float(x["C"]), float(x["accuracy"])) for x in r if x["bits"] == bits and x["method"] == method]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=method)
        ax.axhline(float(r[0]["float_accuracy"]), color="gray", ls="--", label="float")
        levels = 2 ** int(bits) - 1
        ax.set_title(f"{bits} bits ({levels} levels)")
        ax.set_xlabel("radius scale C (largest level = C x mean max|W|)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].legend()
    save(fig, out, "accuracy_vs_scale.png")

    r = rows(os.path.join(src, "bits.csv"))
    fig, ax = plt.subplots(figsize=(6, 4))
    for method in dict.fromkeys(x["method"] for x in r):
        pts = [(int(x["bits"]), float(x["accuracy"])) for x in r if x["method"] == method]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=method)
    ax.axhline(float(r[0]["float_accuracy"]), color="gray", ls="--", label="float")
    ax.set_xlabel("bits per weight (2^b - 1 levels, C = 1)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(bottom=max(0, min(float(x["accuracy"]) for x in r) - 2))
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, out, "accuracy_vs_bits.png")

    r = rows(os.path.join(src, "sigma_delta.csv"))
    fig, ax = plt.subplots(figsize=(6, 4))
    for L in dict.fromkeys(x["levels"] for x in r):
        pts = [(float(x["ratio"]), float(x["accuracy"])) for x in r if x["levels"] == L]
        label = "1 bit (L = 1)" if L == "1" else f"{2 * int(L)} levels (L = {L})"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=label)
    ax.axhline(float(r[0]["float_accuracy"]), color="gray", ls="--", label="float")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("frame size p / N_in")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, out, "sigma_delta_frame_size.png")

    r = rows(os.path.join(src, "axe.csv"))
    fig, ax = plt.subplots(figsize=(6, 4))
    for method in dict.fromkeys(x["method"] for x in r):
        pts = [(int(x["accumulator_bits"]), float(x["accuracy"])) for x in r if x["method"] == method]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=method)
    ax.axhline(float(r[0]["float_accuracy"]), color="gray", ls="--", label="float")
    ax.set_xlabel("accumulator width P (bits), 4-bit weights, 8-bit unsigned inputs")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, out, "axe_accumulator.png")

    r = rows(os.path.join(src, "layer_error.csv"))
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, style in [("GPFQ", "o-"), ("MSQ", "s-"), ("GPFQ heuristic", "k:")]:
        pts = [(int(x["n_in"]), float(x["relative_error"])) for x in r if x["method"] == method]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style,
                label=method + (" measured" if method != "GPFQ heuristic" else " delta^2 m / (12 N_in)"))
    for method, style in [("GPFQ", "C0--"), ("MSQ", "C1--")]:
        pts = [(int(x["n_in"]), float(x["relative_bound"])) for x in r if x["method"] == method]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=method + " bound")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("N_in (m = 128 Gaussian samples, step 0.5, no saturation)")
    ax.set_ylabel("squared relative error")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    save(fig, out, "layer_error_vs_bound.png")

    # bench/bits_budget.py: accuracy against bits per weight, uniform widths and --bits-budget.
    path = os.path.join(src, "bits_budget.csv")
    if os.path.exists(path):
        r = rows(path)
        nets = sorted({x["network"] for x in r}, key=lambda n: [x["network"] for x in r].index(n))
        methods = sorted({x["method"] for x in r})
        fig, axes = plt.subplots(1, len(nets), figsize=(3.2 * len(nets), 3.4), squeeze=False)
        for ax, net in zip(axes[0], nets):
            for k, method in enumerate(methods):
                for kind, style in (("uniform", "o-"), ("budget", "s--")):
                    pts = sorted((float(x["bits_per_weight"]), 100 * float(x["accuracy"])) for x in r
                                 if x["network"] == net and x["method"] == method and x["configuration"].startswith(kind))
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color="C%d" % k,
                            label="%s %s" % (method, "uniform" if kind == "uniform" else "per-layer budget"))
            ax.set_title(net)
            ax.set_xlabel("bits per weight (codes + steps)")
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("test accuracy (%)")
        axes[0][0].legend(fontsize=7)
        save(fig, out, "accuracy_vs_bits_budget.png")


if __name__ == "__main__":
    main()
