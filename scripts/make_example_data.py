"""One-off: builds examples/data from the reference inputs (downscaled so the repo stays small).

Usage: python3 scripts/make_example_data.py /path/to/reference_inputs examples/data
Needs Pillow, numpy and h5py. Depth is downscaled by nearest neighbour (striding) so
invalid (zero) pixels stay invalid instead of being blended with valid ones.
"""
import sys
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
dst.mkdir(parents=True, exist_ok=True)


def down(img, w, h):
    return img.convert("RGB").resize((w, h), Image.Resampling.LANCZOS)


def stride(a, w, h):
    ys = (np.arange(h) * a.shape[0]) // h
    xs = (np.arange(w) * a.shape[1]) // w
    return a[ys][:, xs]


# RGB only.
down(Image.open(src / "eg1.jpg"), 300, 225).save(dst / "street.jpg", quality=88)
im = Image.open(src / "RGB_img.png")
down(im, 300, 394).save(dst / "portrait.jpg", quality=88)

# MegaDepth-style: JPEG + HDF5 depth, reference naming (_img1 -> _depth1).
im = Image.open(src / "RGB-D_img1.jpg")
w, h = 400, 266
down(im, w, h).save(dst / "RGB-D_img1.jpg", quality=88)
d = h5py.File(src / "RGB-D_depth1.h5")["depth"][()]
with h5py.File(dst / "RGB-D_depth1.h5", "w") as f:
    f.create_dataset("depth", data=stride(d, w, h).astype(np.float32), chunks=(64, 64), compression="gzip", compression_opts=9)

# MegaDepth depth as a 16-bit PNG in millimetres (name_depth.png convention).
im = Image.open(src / "RGB-D_img2.jpg")
down(im, w, h).save(dst / "RGB-D_img2.jpg", quality=88)
d = h5py.File(src / "RGB-D_depth2.h5")["depth"][()]
mm = np.clip(np.round(stride(d, w, h) * 1000.0), 0, 65535).astype(np.uint16)
Image.fromarray(mm).save(dst / "RGB-D_img2_depth.png")

# DIODE-style: PNG + .npy depth (HxWx1) + validity mask (RGB-D_depth_mask3.npy).
im = Image.open(src / "RGB-D_img3.png")
w, h = 256, 192
down(im, w, h).save(dst / "RGB-D_img3.png", optimize=True)
d = np.load(src / "RGB-D_depth3.npy")
np.save(dst / "RGB-D_depth3.npy", stride(d, w, h).astype(np.float32))
m = np.load(src / "RGB-D_depth_mask3.npy")
np.save(dst / "RGB-D_depth_mask3.npy", (stride(m, w, h) > 0).astype(np.uint8))
