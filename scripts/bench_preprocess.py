"""Python reference timing for benches/preprocess.rs (spatial-ssrl-model), not part of CI.

Times the steps of transformers' Qwen2VLImageProcessor (slow, Pillow-based) on the same kind
of 1280x960 RGB photo: Pillow bicubic resize, float64 rescale -> float32, normalise, repeat
to 2 frames, reshape/transpose into [patches, 1176]. transformers adds Python overhead on top,
so this is a lower bound for the HF processor.

Usage: pip install pillow numpy && python scripts/bench_preprocess.py
"""
import math
import time

import numpy as np
from PIL import Image

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def smart_resize(h, w, factor=28, min_pixels=3136, max_pixels=1003520):
    hb, wb = round(h / factor) * factor, round(w / factor) * factor
    if hb * wb > max_pixels:
        beta = math.sqrt(h * w / max_pixels)
        hb = max(factor, math.floor(h / beta / factor) * factor)
        wb = max(factor, math.floor(w / beta / factor) * factor)
    elif hb * wb < min_pixels:
        beta = math.sqrt(min_pixels / (h * w))
        hb, wb = math.ceil(h * beta / factor) * factor, math.ceil(w * beta / factor) * factor
    return hb, wb


def preprocess(img, max_pixels):
    h, w = smart_resize(img.height, img.width, max_pixels=max_pixels)
    x = np.asarray(img.convert("RGB").resize((w, h), Image.BICUBIC))
    x = (x.astype(np.float64) * (1 / 255)).astype(np.float32)
    x = ((x - MEAN) / STD).transpose(2, 0, 1)
    p = np.stack([x, x])
    gh, gw = h // 14, w // 14
    p = p.reshape(1, 2, 3, gh // 2, 2, 14, gw // 2, 2, 14).transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return np.ascontiguousarray(p.reshape(gh * gw, 1176))


def main():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:960, 0:1280]
    noise = rng.integers(0, 32, size=(960, 1280))
    arr = np.stack([(xx * 255 // 1280 + noise) % 256, (yy * 255 // 960 + noise) % 256,
                    ((xx + yy) * 127 // 2240 + 2 * noise) % 256], -1).astype(np.uint8)
    img = Image.fromarray(arr)
    import io
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    data = buf.getvalue()
    n, t0 = 20, time.perf_counter()
    for _ in range(n):
        Image.open(io.BytesIO(data)).convert("RGB")
    print(f"decode_jpeg: {(time.perf_counter() - t0) / n * 1e3:.2f} ms")
    for name, mp in [("image_released_limits", 12845056), ("image_max_1003520", 1003520)]:
        preprocess(img, mp)
        n, t0 = 20, time.perf_counter()
        for _ in range(n):
            preprocess(img, mp)
        print(f"{name}: {(time.perf_counter() - t0) / n * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
