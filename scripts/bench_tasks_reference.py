"""Per-sample speed of the pretext tasks: the reference Python functions against ours, same
session, one thread, JPEG output, with the ratio per task.

Python side: the functions of InternLM/Spatial-SSRL `data_process/{Shuffle,Flip,Crop,Depth,
Position}.py`, loaded from a checkout of that repository (only their imports, constants and
function definitions are executed; the scripts' own demo calls are skipped). One sample is
one call as the reference scripts make it, reading and writing included: image (and depth)
read from disk, puzzle built, JPEG written (cv2.imwrite, or matplotlib for depth/position).

Our side: the criterion bench `per_sample` of spatial-ssrl-tasks (release profile; see
crates/spatial-ssrl-tasks/benches/per_sample.rs): read and decode a source once, make
`--samples` samples from it, JPEG-encode every image; time per sample. The same input files
are used by both sides (the reference checkout's `data_process/source_imgs`).

Both sides report CPU time of one thread (Python: process CPU time with numpy/OpenCV held to
one thread; ours: the bench thread's CPU time), so the ratio is fair on a shared machine.
Python's wall time is printed too.

Usage (from the repository root; needs numpy, opencv-python, Pillow, h5py, matplotlib):
    git clone --depth 1 https://github.com/InternLM/Spatial-SSRL /tmp/Spatial-SSRL
    python3 scripts/bench_tasks_reference.py --reference /tmp/Spatial-SSRL
Options: --repeat-scale 0.5 for a quicker run, --only shuffle,depth, --skip-ours / --skip-python.
"""
import argparse
import ast
import contextlib
import glob
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

# One thread for numpy's BLAS and OpenCV, before they are imported.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[var] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")

TASKS = ["shuffle", "flip", "crop", "depth", "position_near", "position_far"]
# Goals of issue 12 (ours at least this many times faster).
GOALS = {"shuffle": 10, "flip": 10, "crop": 10, "depth": 50, "position_near": 500, "position_far": 500}
# Reference calls per task (the slow ones fewer), before --repeat-scale.
REPEATS = {"shuffle": 20, "flip": 20, "crop": 20, "depth": 6, "position_near": 3, "position_far": 2}
FILES = {
    "rgb": "RGB_img.png",
    "img1": "RGB-D_img1.jpg", "depth1": "RGB-D_depth1.h5",
    "img2": "RGB-D_img2.jpg", "depth2": "RGB-D_depth2.h5",
    "img3": "RGB-D_img3.png", "depth3": "RGB-D_depth3.npy", "mask3": "RGB-D_depth_mask3.npy",
}


def load_reference(path):
    """Imports, constant assignments and definitions of one reference script, executed into a
    fresh namespace (its demo calls at the bottom are left out; IPython is display-only)."""
    tree = ast.parse(open(path, encoding="utf-8").read(), filename=path)
    keep = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            keep.append(node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            if not any(n.startswith("IPython") for n in names):
                keep.append(node)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            keep.append(node)
    ns = {"__name__": "reference_" + os.path.basename(path)[:-3]}
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, "exec"), ns)
    return ns


def python_calls(ref_dir, inputs):
    """One zero-argument callable per task: one reference sample, reading and writing included."""
    proc = os.path.join(ref_dir, "data_process")
    mods = {name: load_reference(os.path.join(proc, name + ".py"))
            for name in ["Shuffle", "Flip", "Crop", "Depth", "Position"]}
    import cv2
    cv2.setNumThreads(1)
    f = {k: os.path.join(inputs, v) for k, v in FILES.items()}

    def shuffle():
        # The reference script's own call: 2x2 grid, one patch masked.
        img, _ = mods["Shuffle"]["split_shuffle_and_renumber"](
            f["rgb"], num_vertical=2, num_horizontal=2, mosaic=True)
        cv2.imwrite("shuffle.jpg", img)

    def flip():
        # `direction` is read as a global by the reference function.
        mods["Flip"]["direction"] = random.randint(0, 1)
        img = mods["Flip"]["split_and_flip_one_patch"](f["rgb"], flip_index=random.randint(0, 3))
        cv2.imwrite("Flip.jpg", img)

    def crop():
        mods["Crop"]["random_crop_blacken"](f["rgb"])

    def depth():
        mods["Depth"]["process_sample_3"](f["img3"], f["depth3"], f["mask3"])

    def position_near():
        ok, od, centers = mods["Position"]["one_sample_near"](f["depth2"], f["img2"])
        if ok:
            mods["Position"]["get_near_prompt"](od, centers)

    def position_far():
        ok, od, centers, depths = mods["Position"]["one_sample_far"](f["depth1"], f["img1"])
        if ok:
            mods["Position"]["get_far_prompt"](od, centers, depths)

    return {"shuffle": shuffle, "flip": flip, "crop": crop, "depth": depth,
            "position_near": position_near, "position_far": position_far}


def time_python(tasks, ref_dir, inputs, scale, seed):
    random.seed(seed)
    import numpy as np
    np.random.seed(seed)
    calls = python_calls(ref_dir, inputs)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)  # the reference writes its JPEGs to the working directory
        try:
            for task in tasks:
                n = max(1, round(REPEATS[task] * scale))
                cpu, wall = [], []
                for i in range(n + 1):
                    c0, w0 = time.process_time(), time.perf_counter()
                    with contextlib.redirect_stdout(io.StringIO()):
                        calls[task]()
                    if i > 0:  # the first call warms caches and imports
                        cpu.append(time.process_time() - c0)
                        wall.append(time.perf_counter() - w0)
                out[task] = (statistics.median(cpu), statistics.median(wall), n)
                print(f"  python {task:14s} cpu {out[task][0] * 1e3:9.1f} ms  wall "
                      f"{out[task][1] * 1e3:9.1f} ms  ({n} calls)", file=sys.stderr)
        finally:
            os.chdir(cwd)
    return out


def criterion_estimate(target, group, name):
    path = os.path.join(target, "criterion", group, name, "new", "estimates.json")
    with open(path) as fh:
        est = json.load(fh)
    return est["mean"]["point_estimate"] * 1e-9


def time_ours(tasks, inputs, samples, root):
    env = dict(os.environ, SSRL_REFERENCE_INPUTS=os.path.abspath(inputs),
               SSRL_SAMPLES=str(samples))
    filt = "^(per_sample|source)/(" + "|".join(tasks) + ")$|^encode/"
    cmd = ["cargo", "bench", "-p", "spatial-ssrl-tasks", "--bench", "per_sample", "--", filt]
    print("  " + " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, cwd=root, env=env, check=True, stdout=sys.stderr)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    ours = {t: (criterion_estimate(target, "per_sample", t), criterion_estimate(target, "source", t))
            for t in tasks}
    enc = {}
    for d in sorted(glob.glob(os.path.join(target, "criterion", "encode", "*"))):
        name = os.path.basename(d)
        if os.path.exists(os.path.join(d, "new", "estimates.json")):
            enc[name] = criterion_estimate(target, "encode", name)
    return ours, enc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reference", required=True, help="checkout of InternLM/Spatial-SSRL")
    ap.add_argument("--inputs", help="input files (default: <reference>/data_process/source_imgs)")
    ap.add_argument("--samples", type=int, default=16, help="our samples per decoded source")
    ap.add_argument("--repeat-scale", type=float, default=1.0)
    ap.add_argument("--only", help="comma-separated subset of " + ",".join(TASKS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-python", action="store_true")
    ap.add_argument("--skip-ours", action="store_true")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    inputs = args.inputs or os.path.join(args.reference, "data_process", "source_imgs")
    tasks = args.only.split(",") if args.only else TASKS
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        ap.error(f"unknown tasks {unknown}")

    py = {} if args.skip_python else time_python(tasks, args.reference, inputs, args.repeat_scale, args.seed)
    ours, enc = ({}, {}) if args.skip_ours else time_ours(tasks, inputs, args.samples, root)

    print(f"\nper sample, one thread, JPEG output; ours: {args.samples} samples per decoded source")
    print(f"{'task':14s} {'python cpu':>11s} {'python wall':>12s} {'ours':>9s} {'ratio':>8s} "
          f"{'goal':>6s}  {'ours, 1 sample/source':>22s} {'ratio':>7s}")
    for t in tasks:
        p = py.get(t)
        o = ours.get(t)
        cells = [f"{t:14s}",
                 f"{p[0] * 1e3:9.1f}ms" if p else f"{'-':>11s}",
                 f"{p[1] * 1e3:10.1f}ms" if p else f"{'-':>12s}"]
        if o:
            # One sample per source: the whole read and decode falls on it.
            one = o[0] + o[1] * (1 - 1 / args.samples)
            cells.append(f"{o[0] * 1e3:7.2f}ms")
            cells.append(f"{p[0] / o[0]:7.1f}x" if p else f"{'-':>8s}")
            cells.append(f"{GOALS[t]:5d}x")
            cells.append(f"{one * 1e3:20.2f}ms")
            cells.append(f"{p[0] / one:6.1f}x" if p else f"{'-':>7s}")
        print(" ".join(cells))
    if enc:
        print("\nJPEG encode of the full input (q90, 4:2:0), per image:")
        for name, s in enc.items():
            print(f"  {name:32s} {s * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
