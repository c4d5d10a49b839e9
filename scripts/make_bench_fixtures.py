"""Builds the small benchmark fixtures in tests/fixtures/bench/ in each benchmark's public schema.

Run once from the repository root: python3 scripts/make_bench_fixtures.py
Images are tiny synthetic pictures (solid colours with a square), so the fixtures stay small.
"""
import base64
import csv
import io
import json
import os

from PIL import Image, ImageDraw

ROOT = os.path.join("tests", "fixtures", "bench")


def picture(colour, box_colour, fmt="PNG", size=56):
    img = Image.new("RGB", (size, size), colour)
    d = ImageDraw.Draw(img)
    d.rectangle([size // 4, size // 4, size // 2, size // 2], fill=box_colour)
    buf = io.BytesIO()
    img.save(buf, format=fmt, quality=80)
    return buf.getvalue()


def b64(data):
    return base64.b64encode(data).decode()


def write_tsv(name, header, rows):
    # pandas' to_csv(sep="\t") quoting: minimal, double quote char.
    with open(os.path.join(ROOT, name), "w", newline="") as f:
        w = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            w.writerow(["" if v is None else v for v in r])


def write_file(rel, data):
    path = os.path.join(ROOT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main():
    os.makedirs(ROOT, exist_ok=True)
    red, blue, green = picture("red", "white"), picture("blue", "yellow"), picture("green", "black")

    # Spatial457 (VLMEvalKit TSV, open answers). Row 3 reuses row 1's image by index.
    write_tsv(
        "spatial457.tsv",
        ["index", "image", "question", "answer", "category"],
        [
            [1, b64(red), "What is the color of the large object?", "red", "L1_single"],
            [2, b64(blue), "How many small cars are there?", "3", "L2_objects"],
            [3, "1", "Is there a bus left of the jet?", "Yes", "L3_2d_spatial"],
            [4, b64(green), "Is there a bicycle occluded by the truck?", "No", "L4_occ"],
            [5, b64(green), "What is the shape of the object facing left?", "suv", "L4_pose"],
            [6, b64(red), "Is the red bus to the left of the car, from the car's view?", "No", "L5_6d_spatial"],
            [7, b64(blue), "Will the moving sedan collide with the bike?", "Yes", "L5_collision"],
        ],
    )

    # 3DSRBench (VLMEvalKit TSV with qid: circular rotations and -flip twins).
    q = "Which object is closer to the camera?"
    write_tsv(
        "3dsrbench.tsv",
        ["index", "qid", "question", "A", "B", "C", "D", "answer", "category", "image", "image_source"],
        [
            [0, "a1b2c3d4", q, "chair", "table", None, None, "A", "location", b64(red), "coco"],
            [1, "a1b2c3d4-1", q, "table", "chair", None, None, "B", "location", "0", "coco"],
            [2, "a1b2c3d4-flip", q, "chair", "table", None, None, "A", "location", b64(blue), "coco"],
            [3, "a1b2c3d4-flip-1", q, "table", "chair", None, None, "B", "location", "2", "coco"],
            [4, "e5f6a7b8", "Is the lamp above the bed?", "yes", "no", None, None, "A", "height", b64(green), "coco"],
            [5, "e5f6a7b8-1", "Is the lamp above the bed?", "no", "yes", None, None, "B", "height", "4", "coco"],
            [6, "c9d0e1f2", "Which way does the car face?", "left", "right", "front", "back", "C", "orientation", b64(red), "mscoco"],
            [7, "c9d0e1f2-1", "Which way does the car face?", "back", "left", "right", "front", "D", "orientation", "6", "mscoco"],
        ],
    )

    # SpatialEval (VLMEvalKit MCQ TSV): a multi-image row, a hint, an extra column.
    write_tsv(
        "spatialeval.tsv",
        ["index", "image", "question", "hint", "A", "B", "C", "D", "answer", "category", "split"],
        [
            [10, b64(red), "Which object is at the top left?", None, "square", "circle", "star", "tree", "A", "spatialmap", "tqa"],
            [11, json.dumps([b64(red), b64(blue)]), "Is the second picture bluer than the first?", None, "yes", "no", None, None, "A", "spatialgrid", "vqa"],
            [12, b64(green), "How many steps to the exit?", "Count right turns only.", "1", "2", "3", "4", "C", "mazenav", "tqa"],
            [13, "['%s', '%s']" % (b64(green), b64(red)), "Which image shows a maze?", None, "first", "second", None, None, "B", "mazenav", "vtqa"],
        ],
    )

    # What'sUp controlled images (JSON: image_path, caption_options; first caption is true).
    whatsup = []
    for name, caps in [
        ("mug_left_of_plate.jpeg", ["A mug to the left of a plate", "A mug to the right of a plate", "A mug on a plate", "A mug under a plate"]),
        ("mug_right_of_plate.jpeg", ["A mug to the right of a plate", "A mug to the left of a plate", "A mug on a plate", "A mug under a plate"]),
        ("book_on_chair.jpeg", ["A book on a chair", "A book under a chair", "A book to the left of a chair", "A book to the right of a chair"]),
        ("book_under_chair.jpeg", ["A book under a chair", "A book on a chair", "A book to the left of a chair", "A book to the right of a chair"]),
    ]:
        write_file(os.path.join("controlled_images", name), picture("gray", "orange", "JPEG"))
        whatsup.append({"image_path": "controlled_images/" + name, "caption_options": caps})
    with open(os.path.join(ROOT, "whatsup_controlled.json"), "w") as f:
        json.dump(whatsup, f, indent=2)

    # ViewSpatial-Bench (published JSON; image paths start with the dataset folder).
    base = "ViewSpatial-Bench/scannetv2_val/scene0011_00/original_images/"
    for n in ["280.jpg", "760.jpg", "2020.jpg"]:
        write_file(base + n, picture("white", "purple", "JPEG"))
    view = [
        {"question_type": "Camera perspective - Relative Direction", "image_path": [base + "280.jpg"],
         "question": "Could you tell me the location of the counter in comparison to the refrigerator?",
         "answer": "A. right", "choices": "A. right\nB. front-up\nC. back-left\nD. front"},
        {"question_type": "Camera perspective - Relative Direction", "image_path": [base + "760.jpg"],
         "question": "How is the cabinet positioned with respect to the table?",
         "answer": "D. back", "choices": "A. left\nB. front-left\nC. above-left\nD. back"},
        {"question_type": "Person perspective - Scene Simulation Relative Direction", "image_path": [base + "280.jpg", base + "760.jpg", base + "2020.jpg"],
         "question": "Standing at the sofa facing the TV, where is the door?",
         "answer": "C. back-right", "choices": "A. front-right\nB. front\nC. back-right\nD. left"},
        {"question_type": "Person perspective - Object View Orientation", "image_path": [base + "2020.jpg"],
         "question": "From the man's view, which side is the lamp on?",
         "answer": "B. left", "choices": "A. right\nB. left\nC. front\nD. back"},
    ]
    with open(os.path.join(ROOT, "viewspatial.json"), "w") as f:
        json.dump(view, f, indent=2)

    # VSI-Bench: Spatial-SSRL's evaluation JSON and the official JSONL, frames per scene.
    for i, c in enumerate(["red", "blue", "green", "white"]):
        write_file("frames/arkitscenes/41069025/%04d.jpg" % i, picture(c, "black", "JPEG"))
    for i, c in enumerate(["yellow", "gray"]):
        write_file("frames/scannet/scene0050_00/%04d.jpg" % i, picture(c, "black", "JPEG"))
    mp4 = "/data/VSIBench/arkitscenes/41069025.mp4"
    vsi = [
        {"mp4_path": mp4, "question_type": "object_counting", "question": "How many table(s) are in this room?", "answer": "4", "A": None, "B": None, "C": None, "D": None},
        {"mp4_path": mp4, "question_type": "object_abs_distance", "question": "What is the distance between the sofa and the tv (in meters)?", "answer": "2.5", "A": None, "B": None, "C": None, "D": None},
        {"mp4_path": mp4, "question_type": "room_size_estimation", "question": "What is the size of this room (in square meters)?", "answer": "30.0", "A": None, "B": None, "C": None, "D": None},
        {"mp4_path": mp4, "question_type": "object_rel_direction_hard", "question": "If I am standing by the stove and facing the sofa, is the tv to my front-left, front-right, back-left, or back-right?", "answer": "A", "A": "A. front-left", "B": "B. back-right", "C": "C. back-left", "D": "D. front-right"},
        {"mp4_path": mp4, "question_type": "object_rel_direction_easy", "question": "If I am standing by the stove and facing the sofa, is the tv to my left or right?", "answer": "B", "A": "A. left", "B": "B. right", "C": None, "D": None},
        {"mp4_path": mp4, "question_type": "route_planning", "question": "How do I get from the door to the bed?", "answer": "C", "A": "A. turn left", "B": "B. go forward", "C": "C. turn right", "D": "D. turn back"},
    ]
    with open(os.path.join(ROOT, "vsibench.json"), "w") as f:
        json.dump(vsi, f, indent=4)
    official = [
        {"id": 0, "dataset": "scannet", "scene_name": "scene0050_00", "question_type": "object_size_estimation",
         "question": "What is the length of the longest dimension (length, width, or height) of the bed, measured in centimeters?", "ground_truth": "200", "options": None},
        {"id": 1, "dataset": "scannet", "scene_name": "scene0050_00", "question_type": "obj_appearance_order",
         "question": "What will be the first-time appearance order of the following categories in the video: chair, lamp, tv?",
         "ground_truth": "B", "options": ["A. lamp, chair, tv", "B. chair, lamp, tv", "C. tv, chair, lamp", "D. chair, tv, lamp"]},
    ]
    with open(os.path.join(ROOT, "vsibench_official.jsonl"), "w") as f:
        for r in official:
            f.write(json.dumps(r) + "\n")

    # QSpatial-plus: the Hugging Face columns, exported to JSON Lines (image as base64 bytes).
    qs = [
        {"image": {"bytes": b64(red), "path": None}, "question": "What is the distance between the chair and the table?", "answer_value": 1.5, "answer_unit": "meters", "question_type": "direct"},
        {"image": {"bytes": b64(blue), "path": None}, "question": "How tall is the mug?", "answer_value": 12, "answer_unit": "centimeters", "question_type": "direct"},
        {"image": {"bytes": b64(green), "path": None}, "question": "How wide is the door?", "answer_value": 3, "answer_unit": "feet", "question_type": "ref"},
        {"image": {"bytes": b64(red), "path": None}, "question": "How high is the shelf from the floor?", "answer_value": 40, "answer_unit": "inches", "question_type": "ref"},
    ]
    with open(os.path.join(ROOT, "qspatial.jsonl"), "w") as f:
        for r in qs:
            f.write(json.dumps(r) + "\n")
    write_tsv(
        "qspatial.tsv",
        ["index", "image", "question", "answer", "question_type"],
        [[i, r["image"]["bytes"], r["question"], "(%s, '%s')" % (r["answer_value"], r["answer_unit"]), r["question_type"]] for i, r in enumerate(qs)],
    )


def parquet_copies():
    """The same VSI-Bench and QSpatial rows as parquet, as the Hugging Face releases ship them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(l) for l in open(os.path.join(ROOT, "vsibench_official.jsonl"))]
    cols = {k: [r[k] for r in rows] for k in ["dataset", "scene_name", "question_type", "question", "ground_truth"]}
    cols["id"] = pa.array([r["id"] for r in rows], pa.int64())
    cols["options"] = pa.array([r["options"] for r in rows], pa.list_(pa.string()))
    pq.write_table(pa.table(cols), os.path.join(ROOT, "vsibench_official.parquet"), compression="snappy")

    rows = [json.loads(l) for l in open(os.path.join(ROOT, "qspatial.jsonl"))]
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    cols = {
        "image": pa.array([{"bytes": base64.b64decode(r["image"]["bytes"]), "path": None} for r in rows], image_type),
        "question": [r["question"] for r in rows],
        "answer_value": pa.array([float(r["answer_value"]) for r in rows]),
        "answer_unit": [r["answer_unit"] for r in rows],
        "question_type": [r["question_type"] for r in rows],
    }
    pq.write_table(pa.table(cols), os.path.join(ROOT, "qspatial.parquet"), compression="snappy")


if __name__ == "__main__":
    main()
    parquet_copies()
