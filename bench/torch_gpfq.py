"""pathq's Python module against the PyTorch way of running GPFQ on the same layers.

The PyTorch side is a plain transcription of GPFQ's published loop (Lybrand-Saab; Zhang-Zhou-Saab
with quantized inputs), vectorised over the neurons as GPFQ's research code is: a running residual
U (m x N_out) and, for each input feature t,

    U += X[:, t] w_t^T,   q_t = round(Xq[:, t]^T U / ||Xq[:, t]||^2  on each neuron's grid),   U -= Xq[:, t] q_t^T

on the same grids pathq chose (its steps and code range), so the two differ only in how they
compute. pathq's side is one call, pathq.quantize_layer(W, X, Xq, method="gpfq", bits=B), statistics
included. Both errors are the squared relative error ||XW - XqQ||_F^2 / ||XW||_F^2, computed here in
float64 from the returned weights.

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread PYTHONPATH=build/python \\
        /usr/bin/python3 bench/torch_gpfq.py --sizes 256 512 1024 --threads 2
"""
import argparse
import time

import numpy as np
import torch

import pathq


def layer(n_in, n_out, m, seed):
    rng = np.random.default_rng(seed)
    spectrum = 1.0 / np.sqrt(1.0 + np.arange(n_in))  # correlated features, as a trained layer's inputs are
    mix = rng.standard_normal((n_in, n_in)) * spectrum[:, None] / np.sqrt(n_in)
    X = (rng.standard_normal((m, n_in)) @ mix).astype(np.float32)
    Xq = (X + 0.05 * X.std() * rng.standard_normal((m, n_in))).astype(np.float32)
    W = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
    return W, X, Xq


def torch_gpfq(W, X, Xq, step, lo, hi):
    """GPFQ's loop over input features, vectorised over neurons (float32, PyTorch)."""
    W, X, Xq = torch.from_numpy(W), torch.from_numpy(X), torch.from_numpy(Xq)
    step = torch.from_numpy(np.ascontiguousarray(step, dtype=np.float32))
    Q = torch.zeros_like(W)
    U = torch.zeros(X.shape[0], W.shape[1])
    norms = (Xq * Xq).sum(0)
    for t in range(W.shape[0]):
        U.addr_(X[:, t], W[t])
        if norms[t] > 0:
            proj = (Xq[:, t] @ U) / norms[t]
            Q[t] = torch.clamp(torch.round(proj / step), lo, hi) * step
        U.addr_(Xq[:, t], Q[t], alpha=-1.0)
    return Q.numpy()


def squared_relative(W, Q, X, Xq):
    X64, Xq64 = X.astype(np.float64), Xq.astype(np.float64)
    ref = X64 @ W.astype(np.float64)
    return float(np.sum((ref - Xq64 @ Q.astype(np.float64)) ** 2) / np.sum(ref ** 2))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    p.add_argument("--bits", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print("| N_in = N_out | m | PyTorch GPFQ s | pathq s | speed-up | PyTorch rel. error | pathq rel. error | codes equal |")
    print("|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        W, X, Xq = layer(n, n, 2 * n, seed=n)
        t_pathq, t_torch = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            r = pathq.quantize_layer(W, X, Xq, method="gpfq", bits=args.bits, threads=args.threads)
            t_pathq.append(time.perf_counter() - t0)
        lo, hi = r.report["code_range"]
        step = np.asarray(r.steps, dtype=np.float32).reshape(-1)
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            Qt = torch_gpfq(W, X, Xq, step, lo, hi)
            t_torch.append(time.perf_counter() - t0)
        e_torch, e_pathq = squared_relative(W, Qt, X, Xq), squared_relative(W, r.values, X, Xq)
        equal = float(np.mean(np.round(Qt / step) == r.codes))
        print("| %d | %d | %.3f | %.3f | %.1fx | %.6g | %.6g | %.4f |" % (
            n, 2 * n, min(t_torch), min(t_pathq), min(t_torch) / min(t_pathq), e_torch, e_pathq, equal))


if __name__ == "__main__":
    main()
