"""Sequential quantization of PyTorch models with pathq.

    import pathq.torch
    qmodel, report = pathq.torch.quantize_model(model, batches, method="gpfq", bits=4)

Every nn.Linear and nn.Conv2d of `model` (groups and depthwise included) is quantized in module
order. For each layer, the calibration batches run through the float model, giving the layer's
inputs X, and through the partly quantized model (every earlier layer already quantized), giving Xq;
the rows stream into a pathq.LayerStats batch by batch, so memory does not grow with the number of
batches. A convolution's rows are its input patches (im2col with the layer's own stride, padding,
padding mode and dilation); a grouped convolution is one layer per group.

`batches` is iterated once per layer, so it must be re-iterable: a list, a DataLoader, or any object
whose __iter__ starts over. Each item is an input tensor, or a tuple/list whose first element is
the input (a DataLoader's (inputs, labels)).
"""
import copy
import fnmatch
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from ._pathq import LayerStats, quantize_layer

__all__ = ["quantize_model", "layer_rows", "layer_weight", "target_modules"]


class _Captured(Exception):
    """Raised by the capture hook to stop a forward pass once the layer's input is known."""


def target_modules(model):
    """The (name, module) pairs pathq quantizes, in module order: every nn.Linear and nn.Conv2d."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]


def _groups(module):
    return module.groups if isinstance(module, torch.nn.Conv2d) else 1


def layer_weight(module, group=0):
    """The weights of one group of `module` as pathq's W: (N_in, N_out), one output unit per column."""
    w = module.weight.detach()
    if isinstance(module, torch.nn.Linear):
        return w.t()
    out_per_group = module.out_channels // module.groups
    return w[group * out_per_group:(group + 1) * out_per_group].reshape(out_per_group, -1).t()


def layer_rows(module, x, group=0):
    """The rows a layer multiplies by its weights, for the module's input `x`: (samples, N_in)."""
    if isinstance(module, torch.nn.Linear):
        return x.reshape(-1, module.in_features)
    if x.dim() == 3:  # an unbatched (C, H, W) input
        x = x.unsqueeze(0)
    in_per_group = module.in_channels // module.groups
    x = x[:, group * in_per_group:(group + 1) * in_per_group]
    mode = "constant" if module.padding_mode == "zeros" else module.padding_mode
    pad = module._reversed_padding_repeated_twice
    if any(pad):
        x = F.pad(x, pad, mode=mode)
    cols = F.unfold(x, module.kernel_size, dilation=module.dilation, padding=0, stride=module.stride)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def _module_input(model, module, inputs):
    """The first positional input of `module` when `model` runs on `inputs` (the rest is not run)."""
    box = []

    def hook(_, args):
        box.append(args[0].detach())
        raise _Captured()

    handle = module.register_forward_pre_hook(hook)
    try:
        model(inputs)
    except _Captured:
        pass
    finally:
        handle.remove()
    if not box:
        raise RuntimeError("the module was not called in the model's forward pass")
    return box[0]


def _batch_input(item):
    if isinstance(item, (tuple, list)):
        if not item:
            raise ValueError("a calibration batch is an empty tuple/list")
        item = item[0]
    if not isinstance(item, torch.Tensor):
        raise TypeError("a calibration batch must be a tensor or a tuple/list whose first element is one, got "
                        + type(item).__name__)
    return item


def _as_numpy(t):
    return np.ascontiguousarray(t.detach().to("cpu", torch.float32).numpy())


class _Progress:
    """Progress on stderr: a bar that redraws itself on a terminal, one line per layer elsewhere."""

    def __init__(self, total, enabled):
        self.total, self.enabled = total, enabled
        self.tty = enabled and sys.stderr.isatty()

    def show(self, done, text):
        if not self.enabled:
            return
        if self.tty:
            width = 24
            filled = width * done // max(self.total, 1)
            sys.stderr.write("\r[%s%s] %d/%d %s\033[K" % ("#" * filled, "." * (width - filled), done, self.total, text))
            if done == self.total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write("pathq: %d/%d %s\n" % (done, self.total, text))
        sys.stderr.flush()


def _settings(name, method, bits, options, skip, overrides):
    """The method, bits, options and skip flag of one module: the call's, then every matching override."""
    s = {"method": method, "bits": bits, "skip": any(fnmatch.fnmatchcase(name, p) for p in skip)}
    s.update(options)
    for pattern, extra in (overrides or {}).items():
        if fnmatch.fnmatchcase(name, pattern):
            if not isinstance(extra, dict):
                raise TypeError("overrides[%r] must be a dict of settings, got %s" % (pattern, type(extra).__name__))
            s.update(extra)
    return s


def quantize_model(model, batches, *, method="gpfq", bits=4, skip=(), overrides=None, bias_correction=False,
                   patches_per_batch=None, patch_seed=0, statistics="double", progress=True, **options):
    """Quantizes every nn.Linear and nn.Conv2d of `model` in sequential mode; returns (quantized_model, report).

    model             an nn.Module; it is not changed (the quantized model is a deep copy, in eval mode)
    batches           calibration inputs, re-iterable (see the module's documentation)
    method, bits      as in pathq.quantize_layer; every further keyword is a quantize_layer option
                      (act_order=True, damp=0.01, grid="asymmetric", levels=3, ...)
    skip              module names or fnmatch patterns left in float
    overrides         {pattern: {setting: value}}: per-module method, bits, skip or options, applied
                      in order after the call's own settings, e.g. {"fc3": {"bits": 8}, "conv1": {"skip": True}}
    bias_correction   shift each quantized layer's bias by mean(X) W - mean(Xq) Q over the calibration
                      rows, so the layer's mean output matches the float layer's (layers with a bias only)
    patches_per_batch at most this many rows per batch and layer (a random subset drawn with patch_seed,
                      the same rows for X and Xq): a convolution has one row per output position
    statistics        "double" or "float": the products of LayerStats
    progress          progress on stderr

    The report is a dict: "layers" (one dict per quantized module: name, type, groups, method, bits,
    samples, relative_error (squared, over all groups), seconds, "codes" and "steps" as arrays laid
    out like pathq's W (N_in, N_out) with the groups side by side, and "reports": the quantize_layer
    report of each group), "skipped" (names) and "seconds".
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError("model must be a torch.nn.Module, got " + type(model).__name__)
    if iter(batches) is batches:
        raise TypeError("batches is an iterator, which the first layer would consume; pass a list, a DataLoader "
                        "or another re-iterable object (each layer runs the calibration set again)")
    if isinstance(skip, str):
        skip = (skip,)
    if patches_per_batch is not None and patches_per_batch < 1:
        raise ValueError("patches_per_batch must be >= 1, got %r" % (patches_per_batch,))
    started = time.perf_counter()
    was_training = model.training
    model.eval()
    qmodel = copy.deepcopy(model).eval()
    float_modules = dict(model.named_modules())
    targets = target_modules(qmodel)
    if not targets:
        raise ValueError("the model has no nn.Linear or nn.Conv2d to quantize")
    report = {"layers": [], "skipped": []}
    bar = _Progress(len(targets), progress)
    generator = torch.Generator().manual_seed(patch_seed)
    try:
        for index, (name, qmod) in enumerate(targets):
            s = _settings(name, method, bits, options, skip, overrides)
            if s.pop("skip"):
                report["skipped"].append(name)
                bar.show(index + 1, name + " skipped")
                continue
            report["layers"].append(_quantize_module(model, qmodel, name, float_modules[name], qmod, batches, s,
                                                     bias_correction, patches_per_batch, generator, statistics))
            layer = report["layers"][-1]
            bar.show(index + 1, "%s %s %.3g s, relative error %.3g" % (
                name, layer["method"], layer["seconds"]["total"], layer["relative_error"]))
    finally:
        model.train(was_training)
    report["seconds"] = time.perf_counter() - started
    return qmodel, report


def _quantize_module(model, qmodel, name, fmod, qmod, batches, settings, bias_correction, patches_per_batch,
                     generator, statistics):
    t0 = time.perf_counter()
    groups = _groups(qmod)
    weights = [layer_weight(qmod, g).clone() for g in range(groups)]  # the float weights, kept
    stats = [LayerStats(w.shape[0], statistics) for w in weights]
    with torch.no_grad():
        for item in batches:
            inputs = _batch_input(item)
            x = _module_input(model, fmod, inputs)
            xq = _module_input(qmodel, qmod, inputs)
            same = torch.equal(x, xq)
            for g in range(groups):
                rows = layer_rows(fmod, x, g)
                rows_q = rows if same else layer_rows(qmod, xq, g)
                if patches_per_batch is not None and rows.shape[0] > patches_per_batch:
                    keep = torch.randperm(rows.shape[0], generator=generator)[:patches_per_batch].sort().values
                    rows, rows_q = rows[keep], rows_q[keep]
                if same:
                    stats[g].add(_as_numpy(rows))
                else:
                    stats[g].add(_as_numpy(rows), _as_numpy(rows_q))
    t1 = time.perf_counter()
    method, bits = settings.pop("method"), settings.pop("bits")
    results = []
    for g, w in enumerate(weights):
        if stats[g].samples == 0:
            raise ValueError("module %r saw no calibration rows (is batches empty?)" % name)
        results.append(quantize_layer(_as_numpy(w), method=method, bits=bits, stats=stats[g], **settings))
    t2 = time.perf_counter()
    with torch.no_grad():
        values = np.hstack([r.values for r in results])  # (N_in per group, N_out)
        new_weight = torch.from_numpy(np.ascontiguousarray(values.T)).reshape(qmod.weight.shape)
        qmod.weight.copy_(new_weight.to(qmod.weight.dtype))
        corrected = False
        if bias_correction and qmod.bias is not None:
            shift = []
            for g, (w, r) in enumerate(zip(weights, results)):
                n = stats[g].samples
                w64 = _as_numpy(w).astype(np.float64)
                shift.append(stats[g].sum_x @ w64 / n - stats[g].sum_xq @ r.values.astype(np.float64) / n)
            qmod.bias.add_(torch.from_numpy(np.concatenate(shift)).to(qmod.bias.dtype))
            corrected = True
    error = sum(r.report["error"] for r in results)
    reference = sum(r.report["reference"] for r in results)
    return {
        "name": name,
        "type": type(qmod).__name__,
        "groups": groups,
        "method": method,
        "bits": bits if "levels" not in settings else None,
        "samples": stats[0].samples,
        "relative_error": error / reference if reference > 0 else 0.0,
        "bias_corrected": corrected,
        "seconds": {"statistics": t1 - t0, "quantization": t2 - t1, "total": time.perf_counter() - t0},
        "codes": np.hstack([r.codes for r in results]),
        "steps": np.hstack([np.atleast_2d(r.steps) for r in results]),
        "reports": [r.report for r in results],
    }
