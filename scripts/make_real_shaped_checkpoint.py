"""Random-weight Qwen2.5-VL checkpoints with the real 3B / 7B shapes, laid out like the hub.

usage: python scripts/make_real_shaped_checkpoint.py {3b,7b} OUT_DIR [--seed 0]
       [--max-shard-size 4GB] [--config-spelling hub|resaved]

The shapes come from the published config.json (tests/fixtures/hub-configs): 3B = 36 layers,
hidden 2048, 16/2 heads, intermediate 11008, tied embeddings; 7B = 28 layers, hidden 3584,
28/4 heads, intermediate 18944, untied; both with a 32-block 1280-wide vision tower (window
112, full attention in blocks 7/15/23/31). Weights are drawn by transformers' own init
(normal, std = initializer_range) under `torch.manual_seed(seed)`, held and written in
bfloat16, sharded by `save_pretrained` with `model.safetensors.index.json` as on the hub.
`config.json` is then replaced by the hub's text (`--config-spelling hub`, vision `in_chans`)
or kept as transformers re-saves it (`resaved`: `in_chans` and `in_channels`, `text_config`).
The tokenizer, chat template and preprocessor config come from tests/fixtures/tiny-qwen2_5-vl
(the same files as the released checkpoints'), generation_config.json from hub-configs.

For benchmarks and examples only (not CI): the 3B needs ~7.5 GB of disk and ~8 GB of RAM while
it is made; the 7B ~16.6 GB of each. Versions used: torch 2.6.0 (CPU), transformers 4.57.6.
"""

import argparse
import os
import shutil
import time

import torch
from transformers import AutoConfig, Qwen2_5_VLForConditionalGeneration

REPO = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
HUB = os.path.join(REPO, "tests", "fixtures", "hub-configs")
TINY = os.path.join(REPO, "tests", "fixtures", "tiny-qwen2_5-vl")
SIDE_FILES = ["tokenizer.json", "tokenizer_config.json", "chat_template.json",
              "preprocessor_config.json"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("size", choices=["3b", "7b"])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-shard-size", default="4GB")
    ap.add_argument("--config-spelling", choices=["hub", "resaved"], default="hub")
    args = ap.parse_args()
    hub_config = os.path.join(HUB, f"qwen2_5_vl_{args.size}_instruct.config.json")
    os.makedirs(args.out_dir, exist_ok=True)
    shutil.copy(hub_config, os.path.join(args.out_dir, "config.json"))
    config = AutoConfig.from_pretrained(args.out_dir)
    torch.manual_seed(args.seed)
    t0 = time.time()
    torch.set_default_dtype(torch.bfloat16)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    torch.set_default_dtype(torch.float32)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"built {n_params / 1e9:.3f} B parameters in {time.time() - t0:.0f} s")
    t0 = time.time()
    model.save_pretrained(args.out_dir, max_shard_size=args.max_shard_size,
                          safe_serialization=True)
    print(f"saved in {time.time() - t0:.0f} s")
    if args.config_spelling == "hub":
        shutil.copy(hub_config, os.path.join(args.out_dir, "config.json"))
    shutil.copy(os.path.join(HUB, "qwen2_5_vl_instruct.generation_config.json"),
                os.path.join(args.out_dir, "generation_config.json"))
    for name in SIDE_FILES:
        shutil.copy(os.path.join(TINY, name), os.path.join(args.out_dir, name))
    total = sum(os.path.getsize(os.path.join(args.out_dir, f))
                for f in os.listdir(args.out_dir) if f.endswith(".safetensors"))
    print(f"{args.out_dir}: {total / 1e9:.2f} GB of safetensors")


if __name__ == "__main__":
    main()
