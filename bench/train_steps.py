"""Seconds per training step of a trainer under given settings (a benchmark, not a test).

    python bench/train_steps.py prior --data ../shared/data/wbc_seg/dataset1,../shared/data/wbc_seg/dataset2 \
        --steps 6 --set crop=96 batch=16 --vary precision=fp32,bf16 --vary unet_base=16,32

Builds the task once per combination of the ``--vary`` values (on top of ``--set``), runs
``--warmup`` steps, then times ``--steps`` steps and prints one Markdown row per combination.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from microsr_core.train.configs import coerce_params  # noqa: E402
from microsr_core.train import TRAINERS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trainer", choices=sorted(TRAINERS))
    parser.add_argument("--data", required=True)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", nargs="*", default=[], help="field=value (tuples as 2/3/4)")
    parser.add_argument("--vary", action="append", default=[], help="field=v1,v2,... (one row per combination)")
    args = parser.parse_args()
    trainer = TRAINERS[args.trainer]

    def parse(name: str, text: str):
        """``text`` as every entry point reads field ``name`` (microsr_core.train.configs); tuples written
        2/3/4 (numbers only, so that a path such as ../shared/data/bccd stays a path)."""
        is_tuple = all(part.isdigit() for part in text.split("/"))
        return coerce_params(trainer.config_cls, {name: text.replace("/", ",") if is_tuple else text})[name]

    fixed = {k: parse(k, v) for k, v in (item.split("=", 1) for item in args.set)}
    axes = [(k, [parse(k, v) for v in vs.split(",")]) for k, vs in (item.split("=", 1) for item in args.vary)]
    torch.set_num_threads(args.threads)
    print(f"| {args.trainer} | " + " | ".join(k for k, _ in axes) + " | s/step |")
    print("|---" * (len(axes) + 2) + "|")
    for combo in itertools.product(*[values for _, values in axes]):
        settings = {**fixed, **dict(zip([k for k, _ in axes], combo))}
        with tempfile.TemporaryDirectory() as out:
            config = trainer.config_cls(data=args.data, out=out, threads=args.threads, **settings)
            task = trainer.task_cls(config)
            for step in range(args.warmup):
                task.train_step(step)
            began = time.perf_counter()
            for step in range(args.warmup, args.warmup + args.steps):
                task.train_step(step)
            seconds = (time.perf_counter() - began) / args.steps
        print(f"| {fixed} | " + " | ".join(str(v) for v in combo) + f" | {seconds:.3f} |", flush=True)


if __name__ == "__main__":
    main()
