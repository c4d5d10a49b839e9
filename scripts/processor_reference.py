"""Reference data for the spatial-ssrl-model processor tests (not part of CI).

Writes, under tests/fixtures/processor/:
- eg1_pil_rgb.png: reference_inputs/eg1.jpg decoded by Pillow (libjpeg-turbo), stored
  losslessly, so the Rust pipeline can be checked bit-exactly apart from JPEG decoding;
- smart_resize_cases.json: transformers' smart_resize on random and edge-case sizes
  (the function is re-stated here from transformers 4.57 so the script needs only Pillow).

Usage: pip install pillow numpy && python scripts/processor_reference.py
"""
import json
import math
import pathlib
import random

from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "processor"


def smart_resize(height, width, factor=28, min_pixels=56 * 56, max_pixels=14 * 14 * 4 * 1280):
    if max(height, width) / min(height, width) > 200:
        raise ValueError("absolute aspect ratio must be smaller than 200")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    src = ROOT / "tests" / "fixtures" / "reference_inputs" / "eg1.jpg"
    Image.open(src).convert("RGB").save(OUT / "eg1_pil_rgb.png", optimize=True)

    rng = random.Random(0)
    limits = [(3136, 50176), (56 * 56, 28 * 28 * 1280), (256 * 28 * 28, 1280 * 28 * 28), (3136, 3136 * 4)]
    sizes = [(500, 375), (1186, 902), (42, 70), (14, 14), (1, 1), (28, 5600), (5600, 28), (1, 200),
             (1, 201), (3, 601), (10000, 10000), (27, 29), (4032, 3024), (480, 640), (1080, 1920)]
    for _ in range(150):
        kind = rng.random()
        if kind < 0.4:
            h, w = rng.randint(1, 4000), rng.randint(1, 4000)
        elif kind < 0.7:
            h = rng.randint(1, 300)
            w = min(h * rng.randint(1, 200), 60000)
        else:
            h, w = rng.randint(1, 60), rng.randint(1, 60)
        sizes.append((h, w) if rng.random() < 0.5 else (w, h))
    cases = []
    for h, w in sizes:
        for lo, hi in limits:
            try:
                rh, rw = smart_resize(h, w, 28, lo, hi)
                cases.append({"h": h, "w": w, "min": lo, "max": hi, "out": [rh, rw]})
            except ValueError:
                cases.append({"h": h, "w": w, "min": lo, "max": hi, "out": None})
    (OUT / "smart_resize_cases.json").write_text(json.dumps(cases, indent=0) + "\n")
    print(len(cases), "cases")


if __name__ == "__main__":
    main()
