"""Greedy generation with `repetition_penalty` by transformers on a tiny Qwen2.5-VL fixture.

usage: python scripts/make_generation_golden.py MODEL_DIR OUT_DIR [--penalties 1.05 1.15 1.3]
       [--max-new-tokens 16]

MODEL_DIR is a folder made like tests/fixtures/tiny-qwen2_5-vl (its golden.safetensors holds
the prompt: input_ids, pixel_values, image_grid_thw). Writes OUT_DIR/golden.json with, per
penalty, the ids `model.generate(do_sample=False, repetition_penalty=p)` returns (and their
text, special tokens skipped), plus the
smallest top-1/top-2 margin of the penalised logits over the steps (the numerical slack an
f32 port has). The model folder is recorded relative to OUT_DIR, with its sha256.

Versions used for the committed golden: torch 2.6.0 (CPU), transformers 4.57.6, f32, eager.
"""

import argparse
import hashlib
import json
import os

import torch
import transformers
from safetensors.torch import load_file
from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--penalties", type=float, nargs="+", default=[1.05, 1.15, 1.3])
    ap.add_argument("--max-new-tokens", type=int, default=16)
    args = ap.parse_args()
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
        args.model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    g = load_file(os.path.join(args.model_dir, "golden.safetensors"))
    inputs = dict(input_ids=g["input_ids"], attention_mask=g["attention_mask"],
                  pixel_values=g["pixel_values"], image_grid_thw=g["image_grid_thw"])
    prompt_len = g["input_ids"].shape[1]
    cases = []
    for p in [1.0] + args.penalties:
        with torch.no_grad():
            out = model.generate(**inputs, do_sample=False, repetition_penalty=p,
                                 max_new_tokens=args.max_new_tokens, min_new_tokens=0,
                                 output_scores=True, return_dict_in_generate=True,
                                 eos_token_id=None, pad_token_id=151643)
        ids = out.sequences[0, prompt_len:].tolist()
        # `scores` are the processed (penalised) logits the argmax was taken over.
        margins = []
        for s in out.scores:
            top = torch.topk(s[0], 2).values
            margins.append(float(top[0] - top[1]))
        text = tokenizer.decode(ids, skip_special_tokens=True)
        cases.append({"repetition_penalty": p, "generated_ids": ids, "generated_text": text,
                      "min_top1_minus_top2": min(margins)})
        print(p, ids, min(margins))
    os.makedirs(args.out_dir, exist_ok=True)
    golden = {
        "model_dir": os.path.relpath(args.model_dir, args.out_dir),
        "model_safetensors_sha256": sha256(os.path.join(args.model_dir, "model.safetensors")),
        "prompt": "input_ids, attention_mask, pixel_values, image_grid_thw of the model "
                  "folder's golden.safetensors",
        "do_sample": False,
        "max_new_tokens": args.max_new_tokens,
        "stop_tokens": [],
        "cases": cases,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }
    with open(os.path.join(args.out_dir, "golden.json"), "w") as f:
        json.dump(golden, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
