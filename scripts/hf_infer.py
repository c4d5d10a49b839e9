"""transformers' twin of `spatial-ssrl infer`: one image + question through a Qwen2.5-VL or
Qwen3-VL folder, greedy, printing the new text (special tokens skipped) to stdout.

usage: python scripts/hf_infer.py --model DIR --image IMG --question Q
       [--max-new-tokens 4] [--dtype bf16|f32] [--think] [--fast-image-processor]

The prompt is built as `spatial-ssrl infer` builds it: one user turn (the image, then the
question) rendered by the folder's chat template with the generation prompt; `--think` appends
the format instruction the way the released model's card does (Spatial-SSRL-7B, Qwen2.5-VL:
question + "\\n " + instruction; Spatial-SSRL-Qwen3VL-4B: the instruction right after the
question). Images go through the PIL `Qwen2VLImageProcessor` (what our processor ports) unless
`--fast-image-processor` keeps transformers' torchvision default. Decoding honours
generation_config.json except that sampling is off, like `spatial-ssrl infer --greedy`.
Timings (load; processing + generation) and the peak RSS go to stderr.
Tested with torch 2.6.0 (CPU) and transformers 4.57.6.
"""

import argparse
import json
import os
import resource
import sys
import time

import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForImageTextToText, AutoProcessor

# The rewards crate's FORMAT_INSTRUCTION (crates/spatial-ssrl-rewards/src/format.rs).
FORMAT_INSTRUCTION = (
    "You FIRST think about the reasoning process as an internal monologue and then provide the "
    "final answer. The reasoning process MUST BE enclosed within <think> </think> tags. The "
    "final answer MUST BE put in \\boxed{}.")
# How each family's released model card joins question and instruction.
CARD_SEPARATOR = {"qwen2_5_vl": "\n ", "qwen3_vl": ""}
DTYPES = {"bf16": torch.bfloat16, "f32": torch.float32}


def model_type(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        return json.load(f)["model_type"]


def user_text(model_dir, question, think):
    if not think:
        return question
    return question + CARD_SEPARATOR[model_type(model_dir)] + FORMAT_INSTRUCTION


def load(model_dir, dtype, fast_image_processor=False):
    processor = AutoProcessor.from_pretrained(model_dir)
    if not fast_image_processor:
        processor.image_processor = AutoImageProcessor.from_pretrained(model_dir, use_fast=False)
    model = AutoModelForImageTextToText.from_pretrained(
        model_dir, dtype=DTYPES[dtype], attn_implementation="eager").eval()
    return processor, model


def generate(processor, model, image, text, max_new_tokens):
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
    prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = processor(text=[prompt], images=[Image.open(image)], return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                             temperature=None, top_k=None, top_p=None)
    new = out[0, inputs["input_ids"].shape[1]:]
    return processor.tokenizer.decode(new, skip_special_tokens=True), new.tolist()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--question", required=True)
    ap.add_argument("--max-new-tokens", type=int, default=4)
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="f32")
    ap.add_argument("--think", action="store_true")
    ap.add_argument("--fast-image-processor", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    processor, model = load(args.model, args.dtype, args.fast_image_processor)
    t1 = time.perf_counter()
    text, ids = generate(processor, model, args.image,
                         user_text(args.model, args.question, args.think), args.max_new_tokens)
    t2 = time.perf_counter()
    print(text)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"ids {ids}; load {t1 - t0:.2f} s; generate {t2 - t1:.2f} s; peak RSS "
          f"{peak_gib:.2f} GiB; torch {torch.__version__}, threads {torch.get_num_threads()}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
