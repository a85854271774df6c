"""Reads a TensorBoard log folder with TensorBoard's own reader and prints every scalar and
text entry as JSON: how `wgtrain train --tensorboard DIR` output is checked.

    python scripts/read_tensorboard_logs.py DIR     # in a venv with `pip install tensorboard`
"""

import json
import sys
from pathlib import Path

from tensorboard.backend.event_processing import event_accumulator


def read(run: Path) -> dict:
    acc = event_accumulator.EventAccumulator(
        str(run), size_guidance={event_accumulator.SCALARS: 0, event_accumulator.TENSORS: 0}
    )
    acc.Reload()
    tags = acc.Tags()
    out = {"scalars": {}, "text": {}}
    for tag in tags["scalars"]:
        out["scalars"][tag] = [(e.step, e.value) for e in acc.Scalars(tag)]
    for tag in tags["tensors"]:
        out["text"][tag] = [
            [s.decode() for s in e.tensor_proto.string_val] for e in acc.Tensors(tag)
        ]
    return out


if __name__ == "__main__":
    root = Path(sys.argv[1])
    print(json.dumps({run.name: read(run) for run in sorted(root.iterdir()) if run.is_dir()}, indent=1))
