#!/usr/bin/python3
"""The whole `pathq layer` job against its essential work and against a PyTorch GPTQ.

For each size N (an N x N layer, m = 2N correlated calibration rows, float32 .npy files) and
each thread count T, in one run:

- essential: the BLAS-3 work any layer-wise PTQ of this layer must do, at this machine's best
  (numpy or torch on OpenBLAS, whichever is faster, float32, T threads, best of 3): the symmetric rank-k update X^T X, a
  Cholesky factorization of an N x N matrix, and one N x N by N x N GEMM;
- pathq: `pathq layer` end to end (process start, reading the files, statistics,
  quantization, report, writing Q, codes and report), wall time of the command, best of R, for
  OPTQ with act-order and GPFQ at 4 bits, per-column grids;
- torch (with --torch): a PyTorch transcription of GPTQ (Frantar et al., ICLR 2023,
  Algorithm 1: Hessian X^T X, 1% damping, act-order, lazy batches of 128 columns, the Cholesky
  factor of H^-1), per-column asymmetric min-max 4 bits, end to end from the same files
  (a Python process started, torch imported, the files read, Hessian, quantization, Q written),
  the wall time of that process, as for pathq's, and (in parentheses) the same job timed inside the
  process from after `import torch` (a Python user who has torch loaded already); pathq's OPTQ on the same grid (--grid asymmetric)
  beside it, and both errors ||XW - XQ||^2 / ||XW||^2 computed here in double.

Usage (numpy and torch on OpenBLAS for a fair comparison):
  LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread \\
    /usr/bin/python3 bench/end_to_end.py --pathq build/tools/pathq --sizes 1024 2048 4096 --threads 1 2 [--torch]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def best_of(repeats, fn):
    best = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best


def make_layer(folder, n, seed):
    """W (n x n) and X (2n x n, correlated: a shared factor and a rank-16 part) as float32 files."""
    rng = np.random.default_rng(seed)
    m = 2 * n
    W = (rng.standard_normal((n, n), dtype=np.float32) / np.float32(np.sqrt(n))).astype(np.float32)
    X = rng.standard_normal((m, n), dtype=np.float32)
    X += 0.5 * rng.standard_normal((m, 1), dtype=np.float32)
    X += (rng.standard_normal((m, 16), dtype=np.float32) @ rng.standard_normal((16, n), dtype=np.float32)) / 4
    paths = {"W": os.path.join(folder, f"W{n}.npy"), "X": os.path.join(folder, f"X{n}.npy")}
    np.save(paths["W"], W)
    np.save(paths["X"], X.astype(np.float32))
    return paths


def essential_in_child(x_path, n, threads, repeats):
    """essential_seconds in a child process: OpenBLAS takes its thread count from the environment
    when it is loaded, so each thread count needs a process of its own."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    code = ("import sys; sys.path.insert(0, %r); import end_to_end as e, numpy as np; "
            "print(*e.essential_seconds(np.load(%r), %d, %d, %d))" % (os.path.dirname(os.path.abspath(__file__)),
                                                                    x_path, n, threads, repeats))
    out = subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True).stdout
    return tuple(float(v) for v in out.split())


def essential_seconds(X, n, threads, repeats):
    """Best-of times of X^T X (numpy calls syrk for A.T @ A), a Cholesky, and one GEMM, in float32,
    each the faster of numpy's and torch's (when torch is installed): numpy's Cholesky is several
    times slower than OpenBLAS's own at 2048 here."""
    A = X.astype(np.float32)
    S = A.T @ A
    S += np.float32(n) * np.eye(n, dtype=np.float32)
    B = np.ascontiguousarray(A[:n, :])
    t_syrk = best_of(repeats, lambda: A.T @ A)
    t_chol = best_of(repeats, lambda: np.linalg.cholesky(S))
    t_gemm = best_of(repeats, lambda: B @ B)
    try:
        import torch
    except ImportError:
        return t_syrk, t_chol, t_gemm
    torch.set_num_threads(threads)
    At, St, Bt = torch.from_numpy(A), torch.from_numpy(S), torch.from_numpy(B)
    t_syrk = min(t_syrk, best_of(repeats, lambda: At.t() @ At))
    t_chol = min(t_chol, best_of(repeats, lambda: torch.linalg.cholesky(St)))
    t_gemm = min(t_gemm, best_of(repeats, lambda: Bt @ Bt))
    return t_syrk, t_chol, t_gemm


def run_pathq(pathq, args, threads, folder, tag):
    out = os.path.join(folder, f"Q_{tag}.npy")
    codes = os.path.join(folder, f"C_{tag}.npy")
    report = os.path.join(folder, f"R_{tag}.json")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cmd = [pathq, "layer", *args, "--threads", str(threads), "--out", out, "--codes", codes, "--report", report]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    wall = time.perf_counter() - t0
    with open(report) as f:
        rep = json.load(f)
    return wall, rep, out


def gptq_torch_in_child(w_path, x_path, q_path, bits, threads):
    """gptq_torch in a child process with `threads` for torch and OpenBLAS alike; its wall time."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    code = ("import sys; sys.path.insert(0, %r); import end_to_end as e; e.gptq_torch(%r, %r, %r, %d, %d)"
            % (os.path.dirname(os.path.abspath(__file__)), w_path, x_path, q_path, bits, threads))
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True).stdout
    return time.perf_counter() - t0, float(out.split()[-1])


def gptq_torch(w_path, x_path, q_path, bits, threads, blocksize=128, percdamp=0.01):
    """GPTQ as published, on W (N_in x N_out in pathq's files; torch's layers hold N_out x N_in).
    Prints the seconds from after `import torch` to Q written (the job without the interpreter's
    start and torch's import)."""
    import torch

    t0 = time.perf_counter()
    torch.set_num_threads(threads)
    with torch.no_grad():
        W = torch.from_numpy(np.load(w_path)).t().contiguous().float()  # N_out x N_in
        X = torch.from_numpy(np.load(x_path)).float()
        H = X.t() @ X
        n = W.shape[1]
        dead = torch.diag(H) == 0
        H[dead, dead] = 1
        W[:, dead] = 0
        # Per output row min-max grid, fitted to the original W.
        maxq = 2 ** bits - 1
        zero_t = torch.zeros(W.shape[0])
        xmin = torch.minimum(W.min(1).values, zero_t)
        xmax = torch.maximum(W.max(1).values, zero_t)
        flat = (xmin == 0) & (xmax == 0)
        xmin[flat], xmax[flat] = -1, 1
        scale = (xmax - xmin) / maxq
        zero = torch.round(-xmin / scale)

        def quantize(w):
            return scale * (torch.clamp(torch.round(w / scale) + zero, 0, maxq) - zero)

        perm = torch.argsort(torch.diag(H), descending=True)
        W = W[:, perm]
        H = H[perm][:, perm]
        H += percdamp * torch.mean(torch.diag(H)) * torch.eye(n)
        Hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
        Q = torch.zeros_like(W)
        for i1 in range(0, n, blocksize):
            i2 = min(i1 + blocksize, n)
            W1 = W[:, i1:i2].clone()
            Q1 = torch.zeros_like(W1)
            E1 = torch.zeros_like(W1)
            Hb = Hinv[i1:i2, i1:i2]
            for i in range(i2 - i1):
                w = W1[:, i]
                q = quantize(w)
                Q1[:, i] = q
                e = (w - q) / Hb[i, i]
                W1[:, i:] -= e.unsqueeze(1) @ Hb[i, i:].unsqueeze(0)
                E1[:, i] = e
            Q[:, i1:i2] = Q1
            W[:, i2:] -= E1 @ Hinv[i1:i2, i2:]
        Q = Q[:, torch.argsort(perm)]
        np.save(q_path, Q.t().contiguous().numpy())
    print(time.perf_counter() - t0)


def relative_error(X64, W64, Q_path):
    Q = np.load(Q_path).astype(np.float64)
    Y = X64 @ W64
    return float(np.sum((Y - X64 @ Q) ** 2) / np.sum(Y ** 2))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pathq", default="build/tools/pathq")
    p.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=2, help="pathq and torch runs per point, best kept")
    p.add_argument("--extra", nargs="*", default=[], help="more pathq layer flags, e.g. --statistics float")
    p.add_argument("--torch", action="store_true", help="also the PyTorch GPTQ side by side")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print("size threads  essential(syrk+chol+gemm)     optq_wall  ratio  (stats, quant)   gpfq_wall  ratio  (stats, quant)")
        for n in a.sizes:
            paths = make_layer(folder, n, seed=n)
            X = np.load(paths["X"])
            for t in a.threads:
                ts, tc, tg = essential_in_child(paths["X"], n, t, 3)
                ess = ts + tc + tg
                common = ["--weights", paths["W"], "--inputs", paths["X"], "--bits", "4", *a.extra]
                res = {}
                for name, extra in (("optq", ["--method", "optq", "--act-order"]), ("gpfq", ["--method", "gpfq"])):
                    best = None
                    for _ in range(a.repeats):
                        wall, rep, _ = run_pathq(a.pathq, extra + common, t, folder, name)
                        if best is None or wall < best[0]:
                            best = (wall, rep)
                    res[name] = best
                o, g = res["optq"], res["gpfq"]
                print(f"{n:4d} {t:7d}  {ess:7.3f} ({ts:.3f}+{tc:.3f}+{tg:.3f})  {o[0]:9.3f} {o[0] / ess:6.2f}  "
                      f"({o[1]['seconds']['statistics']:.3f}, {o[1]['seconds']['quantization']:.3f})  "
                      f"{g[0]:9.3f} {g[0] / ess:6.2f}  ({g[1]['seconds']['statistics']:.3f}, "
                      f"{g[1]['seconds']['quantization']:.3f})", flush=True)
                if a.torch:
                    q_torch = os.path.join(folder, "Q_torch.npy")
                    runs = [gptq_torch_in_child(paths["W"], paths["X"], q_torch, 4, t) for _ in range(a.repeats)]
                    t_torch = min(r[0] for r in runs)
                    t_torch_job = min(r[1] for r in runs)
                    best = None
                    for _ in range(a.repeats):
                        wall, rep, q_pathq = run_pathq(
                            a.pathq, ["--method", "optq", "--act-order", "--grid", "asymmetric"] + common, t, folder,
                            "optq_asym")
                        best = wall if best is None else min(best, wall)
                    X64 = X.astype(np.float64)
                    W64 = np.load(paths["W"]).astype(np.float64)
                    e_torch = relative_error(X64, W64, q_torch)
                    e_pathq = relative_error(X64, W64, q_pathq)
                    print(f"     torch GPTQ act-order asym 4b: {t_torch:7.3f} s (after import: {t_torch_job:.3f} s)  "
                          f"rel.err {e_torch:.5e}   pathq optq --grid asymmetric: {best:7.3f} s  rel.err {e_pathq:.5e}   "
                          f"speed-up {t_torch / best:5.2f}x ({t_torch_job / best:.2f}x after import)", flush=True)
            del X
    return 0


if __name__ == "__main__":
    sys.exit(main())
