"""Random-weight checkpoints with the real Qwen2.5-VL 3B / 7B or Qwen3-VL 4B shapes, laid out
like the hub.

usage: python scripts/make_real_shaped_checkpoint.py {3b,7b,qwen3vl-4b} OUT_DIR [--seed 0]
       [--max-shard-size 4GB] [--config-spelling hub|resaved]

The shapes come from the published config.json (tests/fixtures/hub-configs): 3B = 36 layers,
hidden 2048, 16/2 heads, intermediate 11008, tied embeddings; 7B = 28 layers, hidden 3584,
28/4 heads, intermediate 18944, untied; both with a 32-block 1280-wide vision tower (window
112, full attention in blocks 7/15/23/31). qwen3vl-4b = Qwen3-VL-4B-Instruct (the base of
Spatial-SSRL-Qwen3VL-4B): 36 layers, hidden 2560, 32/8 heads of 128, intermediate 9728, tied
head; a 24-block 1024-wide vision tower with 2,304 learned position embeddings and DeepStack
mergers after blocks 5/11/17. Weights are drawn by transformers' own init (normal, std =
initializer_range) under `torch.manual_seed(seed)`, held and written in bfloat16, sharded by
`save_pretrained` with `model.safetensors.index.json` as on the hub. `config.json` is then
replaced by the hub's text (`--config-spelling hub`) or kept as transformers re-saves it
(`resaved`). The tokenizer and chat template come from the family's tiny fixture
(tests/fixtures/tiny-qwen2_5-vl or tiny-qwen3-vl: the same files as the released checkpoints').
Qwen2.5-VL takes its preprocessor config from the tiny fixture and generation_config.json from
hub-configs; Qwen3-VL gets the released preprocessor sizes (65,536..16,777,216 pixels) and the
released sampling settings written below.

For benchmarks and examples only (not CI): the 3B needs ~7.5 GB of disk and ~8 GB of RAM while
it is made; the 7B ~16.6 GB of each; the Qwen3-VL 4B ~8.9 GB of each. Versions used: torch 2.6.0
(CPU), transformers 4.57.6.
"""

import argparse
import json
import os
import shutil
import time

import torch
from transformers import (AutoConfig, Qwen2_5_VLForConditionalGeneration,
                          Qwen3VLForConditionalGeneration)

REPO = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
HUB = os.path.join(REPO, "tests", "fixtures", "hub-configs")
FIXTURES = os.path.join(REPO, "tests", "fixtures")

# size -> (hub config, model class, tiny fixture for the side files, side files)
SIZES = {
    "3b": ("qwen2_5_vl_3b_instruct.config.json", Qwen2_5_VLForConditionalGeneration,
           "tiny-qwen2_5-vl", ["tokenizer.json", "tokenizer_config.json",
                               "chat_template.json", "preprocessor_config.json"]),
    "7b": ("qwen2_5_vl_7b_instruct.config.json", Qwen2_5_VLForConditionalGeneration,
           "tiny-qwen2_5-vl", ["tokenizer.json", "tokenizer_config.json",
                               "chat_template.json", "preprocessor_config.json"]),
    "qwen3vl-4b": ("qwen3_vl_4b_instruct.config.json", Qwen3VLForConditionalGeneration,
                   "tiny-qwen3-vl", ["tokenizer.json", "tokenizer_config.json",
                                     "chat_template.json", "preprocessor_config.json",
                                     "video_preprocessor_config.json"]),
}

# Qwen3-VL-4B-Instruct's released pixel limits (the tiny fixture's are cut down) and
# generation_config.json sampling settings.
QWEN3_IMAGE_PIXELS = {"shortest_edge": 65536, "longest_edge": 16777216}
QWEN3_GENERATION = {"bos_token_id": 151643, "pad_token_id": 151643,
                    "eos_token_id": [151645, 151643], "do_sample": True, "top_k": 20,
                    "top_p": 0.8, "temperature": 0.7, "repetition_penalty": 1.0}


def write_qwen3_side_files(out_dir):
    path = os.path.join(out_dir, "preprocessor_config.json")
    with open(path) as f:
        pre = json.load(f)
    pre["size"] = dict(QWEN3_IMAGE_PIXELS)
    pre["min_pixels"] = QWEN3_IMAGE_PIXELS["shortest_edge"]
    pre["max_pixels"] = QWEN3_IMAGE_PIXELS["longest_edge"]
    with open(path, "w") as f:
        json.dump(pre, f, indent=2)
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump(QWEN3_GENERATION, f, indent=2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("size", choices=sorted(SIZES))
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-shard-size", default="4GB")
    ap.add_argument("--config-spelling", choices=["hub", "resaved"], default="hub")
    args = ap.parse_args()
    config_name, model_class, tiny, side_files = SIZES[args.size]
    hub_config = os.path.join(HUB, config_name)
    os.makedirs(args.out_dir, exist_ok=True)
    shutil.copy(hub_config, os.path.join(args.out_dir, "config.json"))
    config = AutoConfig.from_pretrained(args.out_dir)
    torch.manual_seed(args.seed)
    t0 = time.time()
    torch.set_default_dtype(torch.bfloat16)
    model = model_class(config).eval()
    torch.set_default_dtype(torch.float32)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"built {n_params / 1e9:.3f} B parameters in {time.time() - t0:.0f} s")
    t0 = time.time()
    model.save_pretrained(args.out_dir, max_shard_size=args.max_shard_size,
                          safe_serialization=True)
    print(f"saved in {time.time() - t0:.0f} s")
    del model
    if args.config_spelling == "hub":
        shutil.copy(hub_config, os.path.join(args.out_dir, "config.json"))
    for name in side_files:
        shutil.copy(os.path.join(FIXTURES, tiny, name), os.path.join(args.out_dir, name))
    if model_class is Qwen3VLForConditionalGeneration:
        write_qwen3_side_files(args.out_dir)
    else:
        shutil.copy(os.path.join(HUB, "qwen2_5_vl_instruct.generation_config.json"),
                    os.path.join(args.out_dir, "generation_config.json"))
    total = sum(os.path.getsize(os.path.join(args.out_dir, f))
                for f in os.listdir(args.out_dir) if f.endswith(".safetensors"))
    print(f"{args.out_dir}: {total / 1e9:.2f} GB of safetensors")


if __name__ == "__main__":
    main()
