"""Trains a small CNN (with a depthwise convolution) on Fashion-MNIST with PyTorch, quantizes it with
pathq.torch at 2 to 4 bits with GPFQ and OPTQ, and prints test accuracy and seconds per layer next
to round-to-nearest (method "msq").

    PYTHONPATH=build/python /usr/bin/python3 examples/python/fashion_cnn.py

Data: Debian's dataset-fashion-mnist (IDX files under /usr/share/datasets/fashion-mnist). Training
is deterministic (fixed seeds, a fixed thread count).
"""
import argparse
import gzip
import os
import time

import numpy as np
import torch

import pathq.torch

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(split):
    images = read_idx("%s-images-idx3-ubyte.gz" % split).astype(np.float32) / 255.0
    labels = read_idx("%s-labels-idx1-ubyte.gz" % split).astype(np.int64)
    x = torch.from_numpy((images - 0.2860) / 0.3530).unsqueeze(1)  # the training set's mean and deviation
    return x, torch.from_numpy(labels)


def network():
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),             # 16 x 14 x 14
        nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.ReLU(),                  # depthwise
        nn.Conv2d(16, 32, 1), nn.ReLU(), nn.MaxPool2d(2),                       # 32 x 7 x 7
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10))


def train(x, y, epochs, seed=0):
    torch.manual_seed(seed)
    model = network()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=order)
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def accuracy(model, x, y):
    with torch.no_grad():
        return float(sum((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum() for i in range(0, len(x), 1000))) / len(x)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--train-images", type=int, default=60000)
    p.add_argument("--calibration", type=int, default=1024, help="training images used for calibration")
    p.add_argument("--bits", type=int, nargs="+", default=[2, 3, 4])
    p.add_argument("--methods", nargs="+", default=["msq", "gpfq", "optq"])
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    x, y = load("train")
    x, y = x[:args.train_images], y[:args.train_images]
    xt, yt = load("t10k")
    t0 = time.perf_counter()
    model = train(x, y, args.epochs)
    print("trained %d epoch(s) on %d images in %.1f s; float test accuracy %.4f"
          % (args.epochs, len(x), time.perf_counter() - t0, accuracy(model, xt, yt)))

    calibration = [x[i:i + 128] for i in range(0, min(args.calibration, len(x)), 128)]
    names = [n for n, _ in pathq.torch.target_modules(model)]
    print("\n%-5s %-5s %9s  %s" % ("bits", "method", "accuracy", "seconds per layer (" + ", ".join(names) + ")"))
    for bits in args.bits:
        for method in args.methods:
            options = {"act_order": True} if method == "optq" else {}
            qmodel, report = pathq.torch.quantize_model(model, calibration, method=method, bits=bits,
                                                        progress=False, **options)
            seconds = " ".join("%.3f" % layer["seconds"]["total"] for layer in report["layers"])
            print("%-5d %-6s %9.4f  %s" % (bits, method, accuracy(qmodel, xt, yt), seconds))


if __name__ == "__main__":
    main()
