"""`pathq layer` in one process against `mpirun -np R pathq layer --mpi`, wall time of the whole
command, on one layer N x N with m = 2N correlated calibration rows (and Xq = X plus noise).

    /usr/bin/python3 bench/mpi_layer.py build/tools/pathq --size 2048 --ranks 1 2 [--methods gpfq optq]

Each rank runs one thread (--threads 1, OMP_NUM_THREADS=1), so R ranks use R cores; the
one-process rows show 1 and R threads for comparison. The last column is the fraction of codes
equal to the first run's (the summed statistics differ from one process's by the association of
the additions, which can move a weight across a rounding boundary).
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("pathq")
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--methods", nargs="+", default=["gpfq", "optq"])
    p.add_argument("--mpirun", default="mpirun")
    args = p.parse_args()
    n = args.size
    tmp = tempfile.mkdtemp(prefix="pathq-mpi-bench-")
    rng = np.random.default_rng(1)
    mix = rng.standard_normal((n, n)) / np.sqrt(n) * (1.0 / np.sqrt(1.0 + np.arange(n)))[:, None]
    X = (rng.standard_normal((2 * n, n)) @ mix).astype(np.float32)
    np.save(os.path.join(tmp, "X.npy"), X)
    np.save(os.path.join(tmp, "Xq.npy"), (X + 0.05 * X.std() * rng.standard_normal(X.shape)).astype(np.float32))
    np.save(os.path.join(tmp, "W.npy"), (rng.standard_normal((n, n)) / np.sqrt(n)).astype(np.float32))
    env = dict(os.environ)
    print("| method | run | wall s | statistics s | quantization s | codes equal |")
    print("|---|---|---|---|---|---|")
    for method in args.methods:
        extra = ["--act-order"] if method == "optq" else []
        base = [args.pathq, "layer", "--method", method, "--bits", "4", *extra, "--weights", os.path.join(tmp, "W.npy"),
                "--inputs", os.path.join(tmp, "X.npy"), "--quantized-inputs", os.path.join(tmp, "Xq.npy"),
                "--codes", os.path.join(tmp, "C.npy"), "--out", os.path.join(tmp, "Q.npy"),
                "--report", os.path.join(tmp, "R.json")]
        runs = [("1 process, %d thread(s)" % t, base + ["--threads", str(t)], t) for t in sorted({1, max(args.ranks)})]
        runs += [("mpirun -np %d --mpi, 1 thread each" % r,
                  [args.mpirun, "--allow-run-as-root", "--oversubscribe", "-np", str(r), *base, "--threads", "1",
                   "--mpi"], 1) for r in args.ranks]
        codes = None
        for name, cmd, threads in runs:
            env["OMP_NUM_THREADS"] = str(threads)
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, env=env)
            wall = time.perf_counter() - t0
            with open(os.path.join(tmp, "R.json")) as f:
                rep = json.load(f)
            c = np.load(os.path.join(tmp, "C.npy"))
            codes = c if codes is None else codes
            print("| %s | %s | %.2f | %.2f | %.2f | %.5f |" % (method, name, wall, rep["seconds"]["statistics"],
                                                             rep["seconds"]["quantization"], np.mean(c == codes)),
                  flush=True)


if __name__ == "__main__":
    main()
