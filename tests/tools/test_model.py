"""pathq model: whole networks from a description + safetensors, checked against NumPy."""
import gzip
import json
import struct

from cli_support import np, ok, fails, path, report

rng = np.random.default_rng(7)
DT = {"F32": np.float32, "F64": np.float64, "I8": np.int8, "I16": np.int16, "I32": np.int32, "I64": np.int64}


def write_safetensors(p, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, a in tensors.items():
        a = np.ascontiguousarray(a, dtype=np.float32)
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(p, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    return p


def read_safetensors(p):
    with open(p, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + b:8 + n + e], dtype=DT[t["dtype"]]).reshape(t["shape"])
    return out, meta


def write_json(name, obj):
    p = path(name)
    with open(p, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))
    return p


def relu(x):
    return np.maximum(x, 0)


# A PyTorch-style nn.Sequential MLP: Linear(12, 16), ReLU, Linear(16, 8), ReLU, Linear(8, 3).
T = {
    "0.weight": rng.normal(size=(16, 12)) * 0.4, "0.bias": rng.normal(size=16) * 0.1,
    "2.weight": rng.normal(size=(8, 16)) * 0.3, "2.bias": rng.normal(size=8) * 0.1,
    "4.weight": rng.normal(size=(3, 8)) * 0.4, "4.bias": rng.normal(size=3) * 0.1,
}
T = {k: v.astype(np.float32) for k, v in T.items()}
weights = write_safetensors(path("mlp.safetensors"), T)
mlp = {"input_shape": [12], "layers": [{"type": "linear"}, {"type": "relu"}, {"type": "linear"}, {"type": "relu"},
                                       {"type": "linear"}]}
net = write_json("mlp.json", mlp)
X = rng.normal(size=(400, 12)).astype(np.float32)
cal = path("cal.npy")
np.save(cal, X[:300])
test_x = path("test_x.npy")
np.save(test_x, X[300:])


def forward(t, x, upto=None):
    """The MLP in NumPy (float64); returns the inputs of each linear layer and the output."""
    ins = []
    h = x.astype(np.float64)
    for k, name in enumerate(["0", "2", "4"]):
        ins.append(h)
        h = h @ t[name + ".weight"].astype(np.float64).T + t[name + ".bias"].astype(np.float64)
        if k < 2:
            h = relu(h)
    return ins, h


float_ins, float_out = forward(T, X[:300])
labels = np.argmax(forward(T, X[300:])[1], axis=1)
labels[::7] = (labels[::7] + 1) % 3  # not every label equals the float prediction
test_y = path("test_y.npy")
np.save(test_y, labels.astype(np.int64))


def rebuild(q, meta, name):
    codes = q[name + ".codes"].astype(np.float64)
    step = q[name + ".step"].astype(np.float64)
    zero = q[name + ".zero"].astype(np.float64)
    info = json.loads(meta[name])
    assert info["stored"] == "codes"
    return (codes - zero[:, None]) * step[:, None]


# MSQ: every code equals round-half-up of W / step, with the default step rule: one step per neuron,
# its largest level at the neuron's max |w| (3 bits).
out = path("q_msq.safetensors")
rep = path("rep_msq.json")
ok("model", "--network", net, "--weights", weights, "--calibration", cal, "--method", "msq", "--bits", "3",
   "--test-inputs", test_x, "--test-labels", test_y, "--out", out, "--report", rep, "--quiet")
q, meta = read_safetensors(out)
assert meta["pathq.format"] == "pathq-quantized-1"
assert meta["pathq.method"] == "msq"
for name in ["0", "2", "4"]:
    W = T[name + ".weight"]  # (N_out, N_in): one neuron per row
    K = 3
    step = (np.abs(W).max(axis=1) / np.float32(K)).astype(np.float32)[:, None]
    codes = np.clip(np.floor(W / step + np.float32(0.5)), -K, K)
    assert q[name + ".weight.codes"].dtype == np.int8
    assert np.array_equal(q[name + ".weight.codes"], codes.astype(np.int8)), name
    assert np.allclose(q[name + ".weight.step"], step[:, 0], rtol=1e-6)
    assert np.array_equal(q[name + ".bias"], T[name + ".bias"])

# The report: per-layer errors from X (float network) and Xq (quantized network), and accuracy.
r = report(rep)
Tq = {k: v for k, v in T.items()}
for name in ["0", "2", "4"]:
    Tq[name + ".weight"] = rebuild(q, meta, name + ".weight")
quant_ins, quant_out = forward(Tq, X[:300])
for k, name in enumerate(["0", "2", "4"]):
    L = r["layers"][k]
    assert L["name"] == name and L["kind"] == "dense" and L["levels"] == 7
    assert L["shape"] == [T[name + ".weight"].shape[1], T[name + ".weight"].shape[0]]
    Wd, Qd = T[name + ".weight"].astype(np.float64).T, Tq[name + ".weight"].T
    err = np.sum((float_ins[k] @ Wd - quant_ins[k] @ Qd) ** 2)
    ref = np.sum((float_ins[k] @ Wd) ** 2)
    assert abs(L["relative_error"] - err / ref) <= 1e-4 * err / ref + 1e-9, (name, L["relative_error"], err / ref)
    assert L["quantized_inputs"] == (k > 0)
    assert L["samples"] == 300
    # The layer's own error (float inputs on both sides) and what the earlier layers hand down.
    on_x = np.sum((float_ins[k] @ (Wd - Qd)) ** 2) / ref
    upstream = np.sum((float_ins[k] @ Wd - quant_ins[k] @ Wd) ** 2) / ref
    assert abs(L["relative_error_on_x"] - on_x) <= 1e-4 * on_x + 1e-9, (name, L["relative_error_on_x"], on_x)
    assert abs(L["relative_error_upstream"] - upstream) <= 1e-4 * upstream + 1e-9, (name, upstream)
    assert (L["relative_error_upstream"] > 0) == (k > 0)
assert r["mode"] == "sequential"
yf, yq = forward(T, X[300:])[1], forward(Tq, X[300:])[1]
m = r["model"]
assert m["test_samples"] == 100
assert abs(m["output_relative_error"] - np.linalg.norm(yq - yf) / np.linalg.norm(yf)) < 1e-4
assert abs(m["float_accuracy"] - np.mean(np.argmax(yf, 1) == labels)) < 1e-12
assert abs(m["quantized_accuracy"] - np.mean(np.argmax(yq, 1) == labels)) < 1e-12

# GPFQ beats MSQ on the layers after the first at the same alphabet; bias correction zeroes the mean gap.
rep_g = path("rep_gpfq.json")
out_g = path("q_gpfq.safetensors")
ok("model", "--network", net, "--weights", weights, "--calibration", cal, "--method", "gpfq", "--bits", "3",
   "--bias-correction", "--out", out_g, "--report", rep_g, "--quiet")
rg = report(rep_g)
# (The first layer has Xq = X: there GPFQ is held to its bound; after it, GPFQ corrects the error the
# earlier layers hand down and MSQ cannot.)
assert rg["layers"][0]["bound"]["applicable"] and rg["layers"][0]["bound"]["holds"]
for k in range(3):
    if k > 0:
        assert rg["layers"][k]["relative_error"] < r["layers"][k]["relative_error"], k
    assert rg["layers"][k]["bias_corrected"]
qg, meta_g = read_safetensors(out_g)
Tg = dict(T)
for name in ["0", "2", "4"]:
    Tg[name + ".weight"] = rebuild(qg, meta_g, name + ".weight").astype(np.float32)
    Tg[name + ".bias"] = qg[name + ".bias"]
gf, gq = forward(T, X[:300])[0], forward(Tg, X[:300])[0]
for k, name in enumerate(["0", "2", "4"]):
    gap = (gf[k] @ T[name + ".weight"].T.astype(np.float64) + T[name + ".bias"]) - \
          (gq[k] @ Tg[name + ".weight"].T.astype(np.float64) + Tg[name + ".bias"])
    assert np.max(np.abs(gap.mean(axis=0))) < 1e-4, (name, gap.mean(axis=0))
# The quantized file describes its network and reloads into the same tool.
desc = json.loads(meta_g["pathq.network"])
assert [l["type"] for l in desc["layers"]] == ["linear", "relu", "linear", "relu", "linear"]

# Independent mode: every layer on its float inputs alone; the errors against X and against the
# float outputs are then the same, and nothing is handed down.
rep_i = path("rep_ind.json")
ok("model", "--network", net, "--weights", weights, "--calibration", cal, "--method", "gpfq", "--bits", "3",
   "--independent", "--out", path("q_ind.safetensors"), "--report", rep_i, "--quiet")
ri = report(rep_i)
assert ri["mode"] == "independent"
for L in ri["layers"]:
    assert not L["quantized_inputs"] and L["relative_error_upstream"] == 0
    assert abs(L["relative_error_on_x"] - L["relative_error"]) <= 1e-9 + 1e-6 * L["relative_error"]

# The column search and polishing run in pathq model as in pathq layer: never worse on any layer's
# error than the plain run with the same inputs (the first layer, whose inputs are the same).
rep_c = path("rep_col.json")
ok("model", "--network", net, "--weights", weights, "--calibration", cal, "--method", "gpfq", "--bits", "3",
   "--scale-search", "column", "--refine-passes", "2", "--refit-steps", "--out", path("q_col.safetensors"),
   "--report", rep_c, "--quiet")
rc = report(rep_c)
assert rc["layers"][0]["relative_error"] <= report(rep_i)["layers"][0]["relative_error"] * (1 + 1e-6)
assert "refine_changes" in rc["layers"][0]

# Per-layer settings: --skip keeps a layer in float, --layer-bits changes its alphabet, and the
# description's own fields do the same.
rep_s = path("rep_skip.json")
out_s = path("q_skip.safetensors")
ok("model", "--network", net, "--weights", weights, "--calibration", cal, "--method", "gpfq", "--bits", "3",
   "--skip", "0", "--layer-bits", "4=8", "--out", out_s, "--report", rep_s, "--quiet")
rs = report(rep_s)
assert rs["layers"][0]["skipped"] and not rs["layers"][1]["quantized_inputs"]
assert rs["layers"][2]["levels"] == 255 and rs["layers"][1]["levels"] == 7
qs, _ = read_safetensors(out_s)
assert np.array_equal(qs["0.weight"], T["0.weight"]) and "0.weight.codes" not in qs
mlp2 = json.loads(json.dumps(mlp))
mlp2["layers"][2].update({"bits": 5, "method": "msq"})
ok("model", "--network", write_json("mlp2.json", mlp2), "--weights", weights, "--calibration", cal, "--method",
   "gpfq", "--bits", "3", "--out", out_s, "--report", rep_s, "--quiet")
rs = report(rep_s)
assert rs["layers"][1]["levels"] == 31 and rs["layers"][1]["method"] == "msq" and rs["layers"][0]["method"] == "gpfq"
# Per-layer switches in the description are JSON booleans: true sets the flag, false leaves it out.
mlp3 = json.loads(json.dumps(mlp))
mlp3["layers"][2].update({"method": "optq", "options": {"act-order": True, "damp": 0.05}})
ok("model", "--network", write_json("mlp3.json", mlp3), "--weights", weights, "--calibration", cal, "--method",
   "gpfq", "--bits", "3", "--out", out_s, "--report", rep_s, "--quiet")
assert report(rep_s)["layers"][1]["method"] == "optq"
mlp3["layers"][2]["options"]["act-order"] = False
ok("model", "--network", write_json("mlp3.json", mlp3), "--weights", weights, "--calibration", cal, "--method",
   "gpfq", "--bits", "3", "--out", out_s, "--report", rep_s, "--quiet")
# --bits-budget: a width per layer within the budget, reported with the measurements behind it.
for budget in (6.0, 8.0):  # a small network: the fp16 steps cost about 3 bits per weight
    ok("model", "--network", net, "--weights", weights, "--calibration", cal, "--method", "gpfq",
       "--bits-budget", str(budget), "--bits-choices", "2,3,4,8", "--out", out_s, "--report", rep_s, "--quiet")
    rb = report(rep_s)
    assert rb["bits_per_weight"] <= budget + 1e-9 and rb["model"]["bits_per_weight"] == rb["bits_per_weight"]
    al = rb["bit_allocation"]
    assert al["budget"] == budget and al["choices"] == [2, 3, 4, 8]
    assert abs(sum(l["bits_per_weight"] * l["shape"][0] * l["shape"][1] for l in rb["layers"])
               / sum(l["shape"][0] * l["shape"][1] for l in rb["layers"]) - rb["bits_per_weight"]) < 1e-9
    for l, a in zip(rb["layers"], al["layers"]):
        assert l["name"] == a["name"] and l["bits"] == a["bits"] and l["bits"] in (2, 3, 4, 8)
        assert [m["bits"] for m in a["measured"]] == [2, 3, 4, 8]
fails("--bits-choices goes with --bits-budget", "model", "--network", net, "--weights", weights, "--calibration", cal,
      "--method", "gpfq", "--bits-choices", "2,4", "--out", out_s, outputs=[out_s])
fails("--bits-choices must be a comma-separated list", "model", "--network", net, "--weights", weights,
      "--calibration", cal, "--method", "gpfq", "--bits-budget", "4", "--bits-choices", "2,x", "--out", out_s,
      outputs=[out_s])
fails("is below the cheapest allocation", "model", "--network", net, "--weights", weights, "--calibration", cal,
      "--method", "gpfq", "--bits-budget", "1", "--quiet", "--out", out_s, outputs=[out_s])
mlp3["layers"][2]["options"]["act-order"] = "yes"
fails("is a switch: give it true or false", "model", "--network", write_json("mlp3.json", mlp3), "--weights", weights,
      "--calibration", cal, "--method", "gpfq", "--out", out_s, outputs=[out_s])

# A CNN with batch norm (folded), 2 groups, max pooling and a residual block, custom tensor
# names, calibration from a gzip IDX file of uint8 images scaled by the description.
C = {
    "features.conv.weight": rng.normal(size=(4, 1, 3, 3)) * 0.5,
    "features.bn.weight": rng.uniform(0.5, 1.5, size=4), "features.bn.bias": rng.normal(size=4) * 0.1,
    "features.bn.running_mean": rng.normal(size=4) * 0.1, "features.bn.running_var": rng.uniform(0.5, 2, size=4),
    "res.weight": rng.normal(size=(4, 2, 3, 3)) * 0.3, "res.bias": rng.normal(size=4) * 0.1,
    "head.weight": rng.normal(size=(3, 4 * 3 * 3)) * 0.3, "head.bias": rng.normal(size=3) * 0.1,
}
cw = write_safetensors(path("cnn.safetensors"), C)
cnn = {"input_shape": [1, 6, 6], "input_scale": 1 / 255, "layers": [
    {"type": "conv2d", "weight": "features.conv.weight", "padding": 1},
    {"type": "batchnorm2d", "weight": "features.bn.weight", "bias": "features.bn.bias",
     "running_mean": "features.bn.running_mean", "running_var": "features.bn.running_var"},
    {"type": "relu"},
    {"type": "maxpool2d", "kernel_size": 2},
    {"type": "residual_begin"},
    {"type": "conv2d", "name": "res", "padding": [1, 1], "groups": 2},
    {"type": "relu"},
    {"type": "residual_end"},
    {"type": "flatten"},
    {"type": "linear", "name": "head"}]}
cn = write_json("cnn.json", cnn)
imgs = rng.integers(0, 256, size=(50, 6, 6), dtype=np.uint8)
idx = path("imgs-idx3-ubyte.gz")
with gzip.open(idx, "wb") as f:
    f.write(b"\0\0\x08\x03" + struct.pack(">III", 50, 6, 6) + imgs.tobytes())
out_c = path("q_cnn.safetensors")
rep_c = path("rep_cnn.json")
ok("model", "--network", cn, "--weights", cw, "--calibration", idx, "--method", "gpfq", "--bits", "4",
   "--test-inputs", idx, "--out", out_c, "--report", rep_c, "--quiet")
rc = report(rep_c)
assert [l["name"] for l in rc["layers"]] == ["0", "res", "head"]
assert rc["layers"][0]["samples"] == 50 * 36 and rc["layers"][1]["groups"] == 2
assert rc["model"]["output_relative_error"] < 0.2
qc, meta_c = read_safetensors(out_c)
assert qc["features.conv.weight.codes"].shape == (4, 1, 3, 3)
assert qc["res.weight.codes"].shape == (4, 2, 3, 3)
assert "features.conv.bias" not in qc or qc["features.conv.bias"].shape == (4,)
desc = json.loads(meta_c["pathq.network"])
assert "batchnorm" not in [l["type"] for l in desc["layers"]]

# The SIMODS patch mode samples floor(retain L + 1) non-overlapping patches per image.
ok("model", "--network", cn, "--weights", cw, "--calibration", idx, "--method", "gpfq", "--patches", "kernel-stride",
   "--retain", "0.25", "--out", out_c, "--report", rep_c, "--quiet")
rc = report(rep_c)
# 6x6 input, 3x3 kernel, padding 1, stride 3: 2 x 2 = 4 patches per image, floor(0.25 * 4 + 1) = 2 kept.
assert rc["layers"][0]["samples"] == 50 * 2, rc["layers"][0]["samples"]

# Bad input: one line on stderr, no output written.
outs = [path("bad.safetensors"), path("bad.json")]
base = ["model", "--weights", weights, "--calibration", cal, "--method", "gpfq", "--out", outs[0], "--report", outs[1]]
fails("malformed JSON", *base, "--network", write_json("broken.json", '{"input_shape": [12], "layers": [}'),
      outputs=outs)
bad = json.loads(json.dumps(mlp))
bad["layers"][0]["weight"] = "fc1.weight"
fails("tensor 'fc1.weight' is not in", *base, "--network", write_json("missing.json", bad), outputs=outs)
bad = json.loads(json.dumps(mlp))
bad["input_shape"] = [13]
fails("input has 13 features", *base, "--network", write_json("shape.json", bad), outputs=outs)
bad = json.loads(json.dumps(mlp))
bad["layers"][1]["type"] = "gelu"
fails("unknown layer type", *base, "--network", write_json("type.json", bad), outputs=outs)
bad = json.loads(json.dumps(mlp))
bad["layers"][0]["strde"] = 2
fails("unknown key \"strde\"", *base, "--network", write_json("key.json", bad), outputs=outs)
with open(weights, "rb") as f:
    data = f.read()
trunc = path("trunc.safetensors")
with open(trunc, "wb") as f:
    f.write(data[:len(data) - 10])
fails("trunc.safetensors", "model", "--network", net, "--weights", trunc, "--calibration", cal, "--method", "gpfq",
      "--out", outs[0], outputs=outs)
np.save(path("narrow.npy"), X[:, :11])
fails("has 11 features per sample but the network's input shape 12", "model", "--network", net, "--weights", weights,
      "--calibration", path("narrow.npy"), "--method", "gpfq", "--out", outs[0], outputs=outs)
fails("--skip names 'zz'", *base, "--network", net, "--skip", "zz", outputs=outs)
fails("unknown method 'nope'", "model", "--network", net, "--weights", weights, "--calibration", cal, "--method",
      "nope", "--out", outs[0], outputs=outs)
fails("would overwrite an input", "model", "--network", net, "--weights", weights, "--calibration", cal, "--method",
      "gpfq", "--out", weights, outputs=[])
print("test_model: all checks passed")
