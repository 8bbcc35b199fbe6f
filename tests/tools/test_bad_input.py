"""The table of docs/reliability.md#bad-input through the tool: the rows that test_layer_errors.py does not cover
(dead layers, dtypes, sizes that overflow, the memory limit, and the readers behind `pathq model`,
including every network description that the fuzzer once crashed on). Each bad input exits
non-zero with one line naming the problem and writes nothing."""
import gzip
import json
import os
import struct

from cli_support import TMP, np, ok, path, fails, run, save

rng = np.random.default_rng(13)
W = save("W.npy", rng.standard_normal((8, 3)))
X = save("X.npy", rng.standard_normal((20, 8)))
X0 = save("X0.npy", np.zeros((20, 8)))
Xinf = rng.standard_normal((20, 8))
Xinf[4, 2] = np.inf
Xinf = save("Xinf.npy", Xinf)
Wbe = save("Wbe.npy", np.zeros((8, 3), dtype=">f8"))
Wc = save("Wc.npy", np.zeros((8, 3), dtype=np.complex64))
Wbig = save("Wbig.npy", np.zeros((3000, 3000), dtype=np.float32))
Xbig = save("Xbig.npy", np.zeros((10, 3000), dtype=np.float32))


def npy_with_header(name, header):
    """A .npy file with this header dictionary and no data."""
    text = header + " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    p = path(name)
    with open(p, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode())
    return p


Wover = npy_with_header("Wover.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }")
Q = path("Q.npy")
out = ["--out", Q, "--report", path("r.json")]
outs = [Q, path("r.json")]
gpfq = ["layer", "--method", "gpfq", "--weights", W]

# Dead layers: the (quantized) inputs are all zero.
fails("--inputs " + X0 + ": every input feature is dead (all 8 columns are zero)", *gpfq, "--inputs", X0, *out, outputs=outs)
fails("--quantized-inputs " + X0 + ": every input feature is dead", *gpfq, "--inputs", X, "--quantized-inputs", X0, *out, outputs=outs)
# NaN/Inf in the data, with its position.
fails("X has a non-finite entry (inf) at (4, 2)", *gpfq, "--inputs", Xinf, *out, outputs=outs)
# Dtypes.
fails("big-endian dtype '>f8' is not supported", "layer", "--method", "msq", "--weights", Wbe, *out, outputs=outs)
fails("unsupported dtype '<c8'", "layer", "--method", "msq", "--weights", Wc, *out, outputs=outs)
# Sizes whose product overflows.
fails("the data size of shape (4611686018427387904, 4) overflows 64-bit integers", "layer", "--method", "msq",
      "--weights", Wover, *out, outputs=outs)
# The memory limit: from the headers, before any data is read.
big = ["layer", "--method", "gpfq", "--weights", Wbig, "--inputs", Xbig, *out]
fails("the job needs about 515.7 MiB (N_in = 3000, N_out = 3000, m = 10", *big, "--max-memory-mb", 100, outputs=outs)
fails("but the memory limit is 100.0 MiB", *big, "--max-memory-mb", 100, outputs=outs)
os.environ["PATHQ_MAX_MEMORY_MB"] = "64"
fails("but the memory limit is 64.0 MiB (raise it with --max-memory-mb or PATHQ_MAX_MEMORY_MB", *big, outputs=outs)
os.environ["PATHQ_MAX_MEMORY_MB"] = "lots"
fails("PATHQ_MAX_MEMORY_MB must be an integer in [0, 1099511627776], got 'lots'", *big, outputs=outs)
del os.environ["PATHQ_MAX_MEMORY_MB"]
fails("--max-memory-mb must be in [0, 1099511627776], got -3", *big, "--max-memory-mb", -3, outputs=outs)
listed = ok("layer", "--help").split("methods:")[1].split()
if "sigma-delta" in listed:  # a method option that sizes a buffer counts too
    fails("the job needs about", "layer", "--method", "sigma-delta", "--weights", W, "--frame-size", 10**11,
          "--max-memory-mb", 1024, *out, outputs=outs)
# The flag lets the job through: a small limit that is enough, and 0 (no limit).
ok(*gpfq, "--inputs", X, "--max-memory-mb", 1, *out)
ok(*gpfq, "--inputs", X, "--max-memory-mb", 0, *out)
for o in outs:
    os.remove(o)

# The readers behind `pathq model`: safetensors, .npz, IDX (plain and gzip) and the description.
if "model" in run("--help")[1]:
    def safetensors(name, tensors):
        header, data = {}, b""
        for n, a in tensors.items():
            raw = np.ascontiguousarray(a, dtype="<f4").tobytes()
            header[n] = {"dtype": "F32", "shape": list(np.shape(a)), "data_offsets": [len(data), len(data) + len(raw)]}
            data += raw
        text = json.dumps(header).encode()
        text += b" " * ((8 - len(text) % 8) % 8)
        p = path(name)
        with open(p, "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text + data)
        return p

    def f32(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    # The tensors the network-description fuzz harness loads against.
    weights = safetensors("m.safetensors", {
        "0.weight": f32(4, 6), "0.bias": f32(4), "fc.weight": f32(3, 4), "fc.bias": f32(3),
        "conv.weight": f32(2, 1, 3, 3), "conv.bias": f32(2), "bn.weight": f32(2), "bn.bias": f32(2),
        "bn.running_mean": f32(2), "bn.running_var": np.ones(2), "head.weight": f32(3, 2),
        "sq.weight": f32(4, 4), "proj.weight": f32(4, 4), "proj.bias": f32(4)})
    net = path("net.json")
    with open(net, "w") as f:
        json.dump({"input_shape": [6], "layers": [{"type": "linear"}, {"type": "relu"}, {"type": "linear", "name": "fc"}]}, f)
    cal = save("cal.npy", rng.standard_normal((40, 6)))
    O = path("o.safetensors")
    model = ["model", "--method", "gpfq", "--quiet", "--out", O]
    ok(*model, "--network", net, "--weights", weights, "--calibration", cal)
    os.remove(O)

    raw = open(weights, "rb").read()
    with open(path("trunc.safetensors"), "wb") as f:
        f.write(raw[:-5])
    fails("pathq::read_safetensors: " + path("trunc.safetensors") + ": truncated", *model, "--network", net,
          "--weights", path("trunc.safetensors"), "--calibration", cal, outputs=[O])
    np.savez(path("cal.npz"), X=rng.standard_normal((40, 6)))
    with open(path("trunc.npz"), "wb") as f:
        f.write(open(path("cal.npz"), "rb").read()[:-10])
    fails("pathq::read_npz: " + path("trunc.npz") + ": no end of central directory record", *model, "--network", net,
          "--weights", weights, "--calibration", path("trunc.npz"), outputs=[O])
    idx = bytes([0, 0, 8, 2, 0, 0, 0, 40, 0, 0, 0, 6]) + bytes(range(40)) * 6
    with open(path("trunc.idx.gz"), "wb") as f:
        f.write(gzip.compress(idx)[:-8])
    fails("pathq::read_idx: " + path("trunc.idx.gz") + ": truncated gzip stream", *model, "--network", net,
          "--weights", weights, "--calibration", path("trunc.idx.gz"), outputs=[O])
    # A small gzip stream that inflates far beyond what its header declares (a fuzz finding).
    with open(path("bomb.idx.gz"), "wb") as f:
        f.write(gzip.compress(idx + bytes(1 << 24)))
    fails("trailing data: the gzip stream inflates to more than the 252 bytes that its header declares", *model,
          "--network", net, "--weights", weights, "--calibration", path("bomb.idx.gz"), outputs=[O])
    with open(path("bad.json"), "w") as f:
        f.write('{"input_shape": [6], "layers": [')
    fails("pathq::model: " + path("bad.json") + ": malformed JSON", *model, "--network", path("bad.json"),
          "--weights", weights, "--calibration", cal, outputs=[O])
    # Every network description the fuzzer found a crash with: one line naming the description.
    corpus = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fuzz", "corpus", "network_json")
    regressions = sorted(f for f in os.listdir(corpus) if f.startswith("regression_"))
    assert len(regressions) >= 4, regressions
    for name in regressions:
        fails("pathq::model: " + os.path.join(corpus, name) + ":", *model, "--network", os.path.join(corpus, name),
              "--weights", weights, "--calibration", save("cal4.npy", rng.standard_normal((10, 4))), outputs=[O])
print("ok")
