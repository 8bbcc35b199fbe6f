"""pathq.torch against hand-written sequential loops over the module, on a small MLP and a small CNN
with a depthwise, a strided, a dilated and a reflect-padded convolution."""
import copy
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import pathq  # noqa: E402
import pathq.torch as pt  # noqa: E402


def mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.ReLU(), torch.nn.Linear(32, 16), torch.nn.ReLU(),
                               torch.nn.Linear(16, 5))


def cnn():
    torch.manual_seed(1)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8), torch.nn.ReLU(),  # depthwise
        torch.nn.Conv2d(8, 12, 3, dilation=2, padding=2, padding_mode="reflect", groups=2), torch.nn.ReLU(),
        torch.nn.Conv2d(12, 6, 1), torch.nn.Flatten(), torch.nn.Linear(6 * 4 * 4, 5))


def batches(shape, count=3, seed=2):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g) for _ in range(count)]


def im2col(conv, x, group):
    """The patches of a convolution's input, by explicit slicing (not F.unfold)."""
    cin = conv.in_channels // conv.groups
    x = x[:, group * cin:(group + 1) * cin]
    (kh, kw), (sh, sw), (dh, dw) = conv.kernel_size, conv.stride, conv.dilation
    ph, pw = conv.padding
    mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode
    x = F.pad(x, (pw, pw, ph, ph), mode=mode)
    ho = (x.shape[2] - dh * (kh - 1) - 1) // sh + 1
    wo = (x.shape[3] - dw * (kw - 1) - 1) // sw + 1
    taps = [x[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw]
            for i in range(kh) for j in range(kw)]
    p = torch.stack(taps, dim=2)  # (B, C, kh*kw, ho, wo)
    return p.permute(0, 3, 4, 1, 2).reshape(-1, cin * kh * kw)


def hand_loop(model, data, **kw):
    """Sequential quantization of an nn.Sequential written out: X from the float prefix, Xq from the
    quantized prefix, one LayerStats per layer and group, quantize_layer, the weights replaced."""
    q = copy.deepcopy(model).eval()
    codes = {}
    for i, layer in enumerate(model):
        if not isinstance(layer, (torch.nn.Linear, torch.nn.Conv2d)):
            continue
        groups = getattr(layer, "groups", 1)
        cout = layer.weight.shape[0] // groups
        stats = [None] * groups
        for x in data:
            with torch.no_grad():
                a, aq = model[:i](x), q[:i](x)
            for g in range(groups):
                if isinstance(layer, torch.nn.Linear):
                    rows, rows_q = a, aq
                else:
                    rows, rows_q = im2col(layer, a, g), im2col(layer, aq, g)
                if stats[g] is None:
                    stats[g] = pathq.LayerStats(rows.shape[1])
                if i == 0:
                    stats[g].add(rows.numpy())
                else:
                    stats[g].add(rows.numpy(), rows_q.numpy())
        parts = []
        for g in range(groups):
            w = layer.weight.detach()[g * cout:(g + 1) * cout].reshape(cout, -1).t().contiguous().numpy()
            parts.append(pathq.quantize_layer(w, stats=stats[g], **kw))
        codes[str(i)] = np.hstack([r.codes for r in parts])
        values = np.hstack([r.values for r in parts])
        with torch.no_grad():
            q[i].weight.copy_(torch.from_numpy(values.T.copy()).reshape(q[i].weight.shape))
    return q, codes


@pytest.mark.parametrize("method,kw", [("gpfq", {}), ("optq", {"act_order": True}), ("spfq", {"seed": 3})])
def test_mlp_equals_hand_loop(method, kw):
    model, data = mlp(), batches((16, 20))
    q, report = pt.quantize_model(model, data, method=method, bits=3, progress=False, **kw)
    ref, codes = hand_loop(model, data, method=method, bits=3, **kw)
    assert [l["name"] for l in report["layers"]] == ["0", "2", "4"]
    for layer in report["layers"]:
        np.testing.assert_array_equal(layer["codes"], codes[layer["name"]])
    for a, b in zip(q.parameters(), ref.parameters()):
        assert torch.equal(a, b)
    # The float model is left as it was.
    for a, b in zip(model.parameters(), mlp().parameters()):
        assert torch.equal(a, b)
    assert report["layers"][0]["reports"][0]["quantized_inputs"] is False
    assert report["layers"][1]["reports"][0]["quantized_inputs"] is True


def test_cnn_with_depthwise_equals_hand_loop():
    model, data = cnn(), batches((4, 3, 8, 8))
    q, report = pt.quantize_model(model, data, method="gpfq", bits=4, progress=False)
    ref, codes = hand_loop(model, data, method="gpfq", bits=4)
    assert [l["name"] for l in report["layers"]] == ["0", "2", "4", "6", "8"]
    assert [l["groups"] for l in report["layers"]] == [1, 8, 2, 1, 1]
    for layer in report["layers"]:
        np.testing.assert_array_equal(layer["codes"], codes[layer["name"]])
    for a, b in zip(q.parameters(), ref.parameters()):
        assert torch.equal(a, b)
    # The depthwise layer: 8 layers of 9 inputs and 1 output, 4 x 4 x 4 rows a batch.
    dw = report["layers"][1]
    assert dw["codes"].shape == (9, 8) and dw["samples"] == 3 * 4 * 4 * 4
    # The quantized model computes with the quantized values: each weight is a code times its step.
    w = q[2].weight.detach().reshape(8, 9).t().numpy()
    np.testing.assert_allclose(w, dw["codes"] * dw["steps"][-1], rtol=1e-6, atol=1e-7)


def test_layer_rows_match_explicit_patches():
    conv = cnn()[4]
    x = torch.randn(2, 8, 5, 5)
    for g in range(conv.groups):
        torch.testing.assert_close(pt.layer_rows(conv, x, g), im2col(conv, x, g), rtol=0, atol=0)


def test_skip_overrides_and_patches():
    model, data = cnn(), batches((4, 3, 8, 8))
    q, report = pt.quantize_model(model, data, skip=["6"], overrides={"0": {"bits": 8}, "8": {"method": "optq"}},
                                  patches_per_batch=20, progress=False)
    assert report["skipped"] == ["6"]
    assert torch.equal(q[6].weight, model[6].weight)
    by_name = {l["name"]: l for l in report["layers"]}
    assert by_name["0"]["bits"] == 8 and by_name["0"]["reports"][0]["levels"] == 255
    assert by_name["8"]["method"] == "optq" and by_name["2"]["method"] == "gpfq"
    # 20 rows per batch and group at most; the linear layer has 4 rows a batch.
    assert by_name["2"]["samples"] == 60 and by_name["8"]["samples"] == 12


def test_bias_correction_matches_mean_output():
    torch.manual_seed(4)
    model = torch.nn.Sequential(torch.nn.Linear(12, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    data = batches((32, 12), count=4, seed=5)
    q, report = pt.quantize_model(model, data, bits=2, bias_correction=True, progress=False)
    assert all(l["bias_corrected"] for l in report["layers"])
    with torch.no_grad():
        for i in (0, 2):
            x = torch.cat([model[:i](b) for b in data]).double()
            xq = torch.cat([q[:i](b) for b in data]).double()
            mean_f = F.linear(x, model[i].weight.double(), model[i].bias.double()).mean(0)
            mean_q = F.linear(xq, q[i].weight.double(), q[i].bias.double()).mean(0)
            torch.testing.assert_close(mean_q, mean_f, rtol=0, atol=1e-5)


def test_bad_inputs():
    model = mlp()
    with pytest.raises(TypeError, match="re-iterable"):
        pt.quantize_model(model, iter(batches((4, 20))), progress=False)
    with pytest.raises(ValueError, match="no nn.Linear"):
        pt.quantize_model(torch.nn.ReLU(), batches((4, 20)), progress=False)
    with pytest.raises(TypeError, match="tensor"):
        pt.quantize_model(model, [np.zeros((4, 20))], progress=False)
    with pytest.raises(ValueError, match="damp"):
        pt.quantize_model(model, batches((4, 20)), method="optq", damp=-1, progress=False)
    with pytest.raises(ValueError, match="no calibration rows"):
        pt.quantize_model(model, [], progress=False)


def test_stats_argument_equals_arrays():
    rng = np.random.default_rng(6)
    W = rng.standard_normal((10, 4)).astype(np.float32)
    X = rng.standard_normal((50, 10)).astype(np.float32)
    Xq = X + 0.05 * rng.standard_normal((50, 10)).astype(np.float32)
    s = pathq.LayerStats(10, "float")  # the products quantize_layer uses for float32 arrays
    s.add(X, Xq)
    a = pathq.quantize_layer(W, X, Xq, method="optq")
    b = pathq.quantize_layer(W, method="optq", stats=s)
    np.testing.assert_array_equal(a.codes, b.codes)
    assert a.report["relative_error"] == b.report["relative_error"]
    np.testing.assert_allclose(s.sum_x, X.astype(np.float64).sum(0), rtol=1e-12)
    assert not s.same_inputs
    with pytest.raises(ValueError, match="not both"):
        pathq.quantize_layer(W, X, stats=s)
    with pytest.raises(ValueError, match="n_in"):
        pathq.quantize_layer(W[:5], stats=s)
    with pytest.raises(ValueError, match="no rows"):
        pathq.quantize_layer(W, stats=pathq.LayerStats(10))
    with pytest.raises(TypeError, match="LayerStats"):
        pathq.quantize_layer(W, stats=X)


MEMORY_SCRIPT = """
import resource, sys, torch, pathq.torch as pt
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
class Batches:
    def __init__(self, n): self.n = n
    def __iter__(self):
        g = torch.Generator().manual_seed(1)
        for _ in range(self.n):
            yield torch.randn(2048, 256, generator=g)
pt.quantize_model(model, Batches(int(sys.argv[1])), progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_memory_does_not_grow_with_batches():
    # 2 MB of inputs a batch: keeping the rows of 40 batches would add 80 MB (160 MB with Xq).
    def peak_kb(n):
        out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(n)], check=True, capture_output=True,
                             text=True, env=dict(os.environ))
        return int(out.stdout.split()[-1])

    small, large = peak_kb(4), peak_kb(40)
    assert large - small < 24 * 1024, (small, large)
