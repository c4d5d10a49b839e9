"""Checks that transformers loads a model folder we wrote (`spatial-ssrl train` output,
`save_pretrained`) cleanly and generates the same greedy text as our `spatial-ssrl infer`.

usage: python scripts/check_hf_load.py --model DIR --image IMG --question Q
       [--max-new-tokens 8] [--bin target/debug/spatial-ssrl]

1. `from_pretrained(..., output_loading_info=True)`: no missing, unexpected or mismatched
   weights (a tied head needs no `lm_head.weight`).
2. `spatial-ssrl infer --greedy` and `scripts/hf_infer.py`'s pipeline (same prompt, PIL image
   processor, f32) on the same image and question: the printed texts must be equal.
Exit status 0 when both hold, 1 otherwise. Works for Qwen2.5-VL and Qwen3-VL folders.
Tested with torch 2.6.0 (CPU) and transformers 4.57.6.
"""

import argparse
import os
import subprocess
import sys

from transformers import AutoModelForImageTextToText

sys.path.insert(0, os.path.dirname(__file__))
import hf_infer  # noqa: E402  (the transformers twin of `spatial-ssrl infer`)

REPO = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))


def loading_problems(model_dir):
    _, info = AutoModelForImageTextToText.from_pretrained(
        model_dir, dtype=hf_infer.DTYPES["f32"], output_loading_info=True)
    return {k: v for k, v in info.items() if v and k != "error_msgs"} | (
        {"error_msgs": info["error_msgs"]} if info.get("error_msgs") else {})


def ours(binary, args):
    out = subprocess.run(
        [binary, "infer", "--model", args.model, "--image", args.image, "--question",
         args.question, "--max-new-tokens", str(args.max_new_tokens), "--greedy",
         "--dtype", "f32"], check=True, capture_output=True, text=True)
    return out.stdout[:-1] if out.stdout.endswith("\n") else out.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--question", required=True)
    ap.add_argument("--max-new-tokens", type=int, default=8)
    ap.add_argument("--bin", default=os.path.join(REPO, "target", "debug", "spatial-ssrl"))
    args = ap.parse_args()
    ok = True
    problems = loading_problems(args.model)
    print(f"{hf_infer.model_type(args.model)} folder {args.model}: loading "
          f"{'clean' if not problems else problems}")
    ok &= not problems
    processor, model = hf_infer.load(args.model, "f32")
    theirs, ids = hf_infer.generate(processor, model, args.image, args.question,
                                    args.max_new_tokens)
    mine = ours(args.bin, args)
    print(f"transformers: {theirs!r} {ids}")
    print(f"spatial-ssrl: {mine!r}")
    same = theirs == mine
    print("greedy text: " + ("identical" if same else "DIFFERENT"))
    ok &= same
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
