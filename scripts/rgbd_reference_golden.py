"""Golden values for the RGB-D task tests, computed with the reference implementation.

Runs the pair searches of InternLM/Spatial-SSRL `data_process/Position.py` (its functions are
loaded from a local checkout of that repository, not copied) and numpy's percentiles on the
downscaled fixtures in tests/fixtures/reference_inputs/rgbd-small, and writes
reference_golden.json beside them.

    pip install numpy h5py
    python scripts/rgbd_reference_golden.py /path/to/Spatial-SSRL/data_process/Position.py
"""

import ast
import json
import sys
from pathlib import Path

import h5py
import numpy as np

FIXTURES = Path(__file__).resolve().parent.parent / "tests/fixtures/reference_inputs/rgbd-small"


def reference_functions(position_py):
    """The reference module's imports and functions, without its module-level demo code."""
    tree = ast.parse(Path(position_py).read_text())
    drop_imports = {"cv2", "matplotlib.pyplot", "PIL"}
    body = []
    for node in tree.body:
        if isinstance(node, ast.Import) and any(a.name in drop_imports for a in node.names):
            continue
        if isinstance(node, ast.ImportFrom) and node.module in drop_imports:
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.Assign)):
            body.append(node)
    ns = {}
    exec(compile(ast.Module(body=body, type_ignores=[]), position_py, "exec"), ns)
    return ns


def main():
    ref = reference_functions(sys.argv[1])
    golden = {"position_pairs": {}, "depth_clip": {}}
    for i in (1, 2):
        with h5py.File(FIXTURES / f"RGB-D_depth{i}.h5", "r") as f:
            depth = f["depth"][:].astype(np.float32)
        norm = ref["normalize_depth"](depth)
        golden["position_pairs"][f"RGB-D_img{i}.jpg"] = {
            # (y, x) centres, in the reference's order (nearer the image centre first)
            "near": [list(map(int, p)) for p in ref["find_two_blocks_near"](norm)],
            "far": [list(map(int, p)) for p in ref["find_two_blocks_far"](norm)],
        }
    depth = np.load(FIXTURES / "RGB-D_depth3.npy")[:, :, 0]
    mask = np.load(FIXTURES / "RGB-D_depth_mask3.npy").astype(bool)
    valid = depth[mask & (depth > 0)]
    golden["depth_clip"]["RGB-D_img3.png"] = [float(v) for v in np.percentile(valid, [0.5, 99.5])]
    (FIXTURES / "reference_golden.json").write_text(json.dumps(golden, indent=1) + "\n")
    print(json.dumps(golden))


if __name__ == "__main__":
    main()
