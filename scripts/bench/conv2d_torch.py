"""PyTorch's CPU Conv2D at the shapes of `wgtrain bench conv2d` (the inception block's: batch 32,
64 -> 64 channels), timed as that bench times ours: forward, the input's gradient and the
kernel's gradient, each alone, GFLOP/s counting the multiply-adds of taps inside the image.
Prints JSON. Run with the peers' venv:
    OMP_NUM_THREADS=2 ~/.cache/wgtrain-peers-venv/bin/python scripts/bench/conv2d_torch.py
"""
import json
import statistics
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
BATCH = 32
CASES = [  # label, side, in, out, kernel, stride
    ("1x1, 32x32, 64->64", 32, 64, 64, 1, 1),
    ("3x3, 32x32, 64->64, same", 32, 64, 64, 3, 1),
    ("3x3 stride 2, 32x32 -> 16x16, 64->64, same", 32, 64, 64, 3, 2),
    ("3x3, 16x16, 64->64, same", 16, 64, 64, 3, 1),
]


def same_pads(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2, out


def inside_taps(size, k, s):
    before, _, out = same_pads(size, k, s)
    return sum(1 for o in range(out) for j in range(k) if 0 <= o * s + j - before < size)


def timed(fn, min_seconds=1.0):
    fn()
    ts = []
    start = time.perf_counter()
    while len(ts) < 3 or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


results = []
for label, side, cin, cout, k, s in CASES:
    top, bottom, out = same_pads(side, k, s)
    x = torch.rand(BATCH, cin, side, side).contiguous(memory_format=torch.channels_last)
    w = torch.rand(cout, cin, k, k)
    padded = lambda t: F.pad(t, (top, bottom, top, bottom))
    dy = torch.rand(BATCH, cout, out, out).contiguous(memory_format=torch.channels_last)
    flops = 2.0 * BATCH * inside_taps(side, k, s) ** 2 * cin * cout
    xp = padded(x)
    fwd = lambda: F.conv2d(xp, w, stride=s)
    grad_x = lambda: torch.nn.grad.conv2d_input(xp.shape, w, dy, stride=s)
    grad_w = lambda: torch.nn.grad.conv2d_weight(xp, w.shape, dy, stride=s)
    row = {"shape": label, "batch": BATCH}
    total = 0.0
    for name, fn in [("forward", fwd), ("backward_data", grad_x), ("backward_filter", grad_w)]:
        with torch.no_grad():
            sec = timed(fn)
        total += sec
        row[name] = {"ms": sec * 1e3, "gflops": flops / sec / 1e9}
    row["forward_backward_ms"] = total * 1e3
    row["forward_backward_gflops"] = 3 * flops / total / 1e9
    results.append(row)
print(json.dumps({"framework": "torch " + torch.__version__, "conv2d": results}))
