"""pathq: post-training quantization of neural-network layers with the error bounds of the literature.

    import numpy as np, pathq
    r = pathq.quantize_layer(W, X, method="optq", bits=4, act_order=True)
    r.values, r.codes, r.steps, r.report["relative_error"]

W is (N_in, N_out): one neuron per column (a torch nn.Linear's weight is W.T).
"""
from ._pathq import LayerResult, LayerStats, __version__, methods, quantize_layer

__all__ = ["LayerResult", "LayerStats", "methods", "quantize_layer", "__version__"]
