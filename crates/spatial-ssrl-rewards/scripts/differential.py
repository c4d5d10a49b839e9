"""Differential check of ImgScore against the Python reference on random adversarial inputs.

Writes JSONL in the reward-golden schema, scored by the reference semantics
(`img_score` in InternLM/Spatial-SSRL training/GRPO/examples/reward_function/math.py, using
mathruler 0.1.0's `extract_boxed_content`). Check the Rust port against it with:

    pip install mathruler==0.1.0 pylatexenc sympy tqdm
    python3 crates/spatial-ssrl-rewards/scripts/differential.py --n 20000 --seed 1 --out /tmp/diff.jsonl
    SSRL_REWARD_GOLDEN=/tmp/diff.jsonl cargo test -p spatial-ssrl-rewards --test golden

Development-time tooling only; the crate never runs Python.
"""

import argparse
import json
import random
import re

from mathruler.grader import extract_boxed_content

# The reference's two expressions, as written in its reward function.
TAG_SPACE = re.compile(r"\s*(<|>|/)\s*")
FORMAT = re.compile(r"<think>.*</think>.*\\boxed\{.*\}.*", re.DOTALL)

SPACES = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\xa0",
          "\u1680", "\u2000", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]
NOT_SPACES = ["\u200b", "\ufeff", "\u180e", "\u200e", "\x00", "\u0301"]
PIECES = ["<think>", "</think>", "<", ">", "/", "think", "\\boxed{", "\\boxed {", "\\\\boxed{",
          "{", "}", "A", "B", "b", "0-2-3-1", "3-0", "None", "(B)", "\u05d0\u05d1", "\u7b54\u6848",
          "\U0001f642", "answer", ".", "\\", "boxed"]


def reference_score(response, ground_truth, format_weight=0.1):
    text = TAG_SPACE.sub(r"\1", response)
    fmt = 1.0 if FORMAT.fullmatch(text) else 0.0
    extracted = extract_boxed_content(text)
    acc = 1.0 if extracted == ground_truth else 0.0
    return (1 - format_weight) * acc + format_weight * fmt, fmt, acc, extracted


def spaced(rng, text):
    """`text` with random whitespace (or look-alikes) inserted around its characters."""
    out = []
    for ch in text:
        if rng.random() < 0.2:
            out.append(rng.choice(SPACES + NOT_SPACES))
        out.append(ch)
    if rng.random() < 0.2:
        out.append(rng.choice(SPACES + NOT_SPACES))
    return "".join(out)


def structured_response(rng):
    """A near-well-formed `<think>..</think>..\\boxed{..}` response with perturbations."""
    pieces = ["<think>", random_response(rng, 8), "</think>", random_response(rng, 4),
              rng.choice(["\\boxed{", "\\boxed {", "\\boxed{{"]), rng.choice(["B", "0-2-3-1", " B ", "A/B"]),
              rng.choice(["}", "}}", "", " }"]), random_response(rng, 3)]
    if rng.random() < 0.3:
        del pieces[rng.randrange(len(pieces))]
    return "".join(spaced(rng, p) if rng.random() < 0.5 else p for p in pieces)


def random_response(rng, max_parts=40):
    if max_parts == 40 and rng.random() < 0.5:
        return structured_response(rng)
    parts = []
    for _ in range(rng.randint(0, max_parts)):
        r = rng.random()
        if r < 0.45:
            parts.append(rng.choice(PIECES))
        elif r < 0.8:
            parts.append("".join(rng.choice(SPACES) for _ in range(rng.randint(1, 4))))
        elif r < 0.9:
            parts.append(rng.choice(NOT_SPACES))
        else:
            parts.append(chr(rng.randint(0x20, 0x2FFF)))
    return "".join(parts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with open(args.out, "w", encoding="utf-8") as f:
        for i in range(args.n):
            response = random_response(rng)
            # Ground truths: usually a plausible answer, sometimes the extraction itself.
            truth = rng.choice(["B", "A", "0-2-3-1", "3-0", "None", "", "(B)", "{B}"])
            overall, fmt, acc, extracted = reference_score(response, truth)
            if rng.random() < 0.3:
                truth = extracted
                overall, fmt, acc, extracted = reference_score(response, truth)
            f.write(json.dumps({"id": f"diff-{i:06d}", "case": "random", "response": response,
                                "ground_truth": truth, "overall": overall, "format": fmt,
                                "accuracy": acc, "_extracted": extracted}) + "\n")


if __name__ == "__main__":
    main()
