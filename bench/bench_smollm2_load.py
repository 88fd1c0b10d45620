"""SmolLM2 serial start-up: what a ``pearray accuracy --model smollm2`` run does on one core
before its workers fork.

Run: ``python bench/bench_smollm2_load.py``. Prints the CPU seconds of each step in a fresh
process, in the order the accuracy run takes them: reading the GGUF's header (vocabulary,
merges, tensor table), building the tokenizer, encoding the default corpus, and dequantising
every tensor (:func:`models.smollm2.load_smollm2`, which ``sim.accuracy._warm_before_fork``
calls so that the workers share the weights). Every step runs once (each is cached after), so
compare code by running it in two worktrees alternately, a few times (the machine's speed drifts).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import accuracy, smollm2  # noqa: E402


def main():
    text = accuracy.lee_background_text()
    steps = (("GGUF header (smollm2._reader)", smollm2._reader),
             ("tokenizer (smollm2.load_tokenizer)", smollm2.load_tokenizer),
             ("encode lee_background.cor", lambda: smollm2.encode(text)),
             ("dequantise (smollm2.load_smollm2)", smollm2.load_smollm2))
    total = 0.0
    for label, step in steps:
        t = time.process_time()
        step()
        cpu = time.process_time() - t
        total += cpu
        print(f"{label:40s} {cpu:6.2f} CPU s")
    print(f"{'total':40s} {total:6.2f} CPU s")


if __name__ == "__main__":
    main()
