"""Round-trips the published Qwen2.5-VL config.json files through one transformers version.

usage: python scripts/resave_hub_configs.py tests/fixtures/hub-configs OUT_DIR TAG
  e.g. TAG = transformers-4.57 (with transformers==4.57.6 installed) or transformers-5.

Writes OUT_DIR/qwen2_5_vl_{3b,7b}_instruct.TAG.config.json: what `save_pretrained` writes
after `AutoConfig.from_pretrained` reads the hub file (no weights needed).
"""

import os
import shutil
import sys

import transformers
from transformers import AutoConfig


def main():
    src, out, tag = sys.argv[1], sys.argv[2], sys.argv[3]
    for size in ["3b", "7b"]:
        hub_dir = os.path.join(out, f"hub_{size}")
        os.makedirs(hub_dir, exist_ok=True)
        shutil.copy(os.path.join(src, f"qwen2_5_vl_{size}_instruct.config.json"),
                    os.path.join(hub_dir, "config.json"))
        saved_dir = os.path.join(out, f"saved_{size}_{tag}")
        AutoConfig.from_pretrained(hub_dir).save_pretrained(saved_dir)
        shutil.copy(os.path.join(saved_dir, "config.json"),
                    os.path.join(out, f"qwen2_5_vl_{size}_instruct.{tag}.config.json"))
    print(f"transformers {transformers.__version__}: wrote {out}")


if __name__ == "__main__":
    main()
