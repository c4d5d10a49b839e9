"""Times the Python reference `img_score` on the inputs the Rust bench uses.

    SSRL_BENCH_DUMP=/tmp/mix.jsonl cargo bench -p spatial-ssrl-rewards --bench score -- throughput
    python3 crates/spatial-ssrl-rewards/scripts/time_reference.py /tmp/mix.jsonl

Development-time tooling only (needs mathruler==0.1.0).
"""

import json
import re
import sys
import time

from mathruler.grader import extract_boxed_content

TAG_SPACE = re.compile(r"\s*(<|>|/)\s*")
FORMAT = re.compile(r"<think>.*</think>.*\\boxed\{.*\}.*", re.DOTALL)


def img_score(response, ground_truth, format_weight=0.1):
    text = TAG_SPACE.sub(r"\1", response)
    fmt = 1.0 if FORMAT.fullmatch(text) else 0.0
    acc = 1.0 if extract_boxed_content(text) == ground_truth else 0.0
    return (1 - format_weight) * acc + format_weight * fmt


def main():
    rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
    mix = [(r["response"], r["ground_truth"]) for r in rows if r["case"] == "mix"]
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for response, truth in mix:
            img_score(response, truth)
        best = min(best, time.perf_counter() - t)
    mean = sum(len(r) for r, _ in mix) / len(mix)
    print(f"mix: {len(mix)} responses, mean {mean:.0f} chars: {len(mix) / best:,.0f} responses/s")
    for r in rows:
        if r["case"] != "mix":
            t = time.perf_counter()
            img_score(r["response"], r["ground_truth"])
            print(f"adversarial {r['case']} ({len(r['response'])} chars): {1e3 * (time.perf_counter() - t):.2f} ms")


if __name__ == "__main__":
    main()
