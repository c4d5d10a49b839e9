#!/usr/bin/env python3
"""Checks that a dataset written by `spatial-ssrl generate --format parquet` loads in pyarrow
with the EasyR1 schema: problem string, answer string,
images list<struct<bytes: binary, path: string>>, task string, source string.

Usage: python3 scripts/check_parquet.py DATASET_DIR
Exits 0 and prints a one-line summary when every shard passes; 1 with the reason otherwise.
"""
import io
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

EXPECTED = {
    "problem": pa.string(),
    "answer": pa.string(),
    "images": pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
    "task": pa.string(),
    "source": pa.string(),
}
PNG, JPEG = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"


def fail(msg):
    print(f"check_parquet: {msg}", file=sys.stderr)
    sys.exit(1)


def same_type(got, want):
    # List field names ("element" vs "item") differ between writers; compare value types.
    if pa.types.is_list(want):
        return pa.types.is_list(got) and same_type(got.value_type, want.value_type)
    if pa.types.is_struct(want):
        return (
            pa.types.is_struct(got)
            and [f.name for f in got] == [f.name for f in want]
            and all(same_type(g.type, w.type) for g, w in zip(got, want))
        )
    return got == want


def main():
    if len(sys.argv) != 2:
        fail("usage: check_parquet.py DATASET_DIR")
    shards = sorted(Path(sys.argv[1]).glob("*.parquet"))
    if not shards:
        fail(f"no .parquet shards in {sys.argv[1]}")
    rows, tasks = 0, {}
    for shard in shards:
        table = pq.read_table(shard)
        for name, want in EXPECTED.items():
            if name not in table.schema.names:
                fail(f"{shard.name}: no column {name!r}")
            got = table.schema.field(name).type
            if not same_type(got, want):
                fail(f"{shard.name}: column {name!r} is {got}, expected {want}")
        meta = table.schema.metadata or {}
        if b"huggingface" in meta:
            feats = json.loads(meta[b"huggingface"])["info"]["features"]
            if feats["images"]["feature"]["_type"] != "Image":
                fail(f"{shard.name}: huggingface metadata does not mark images as Image")
        for row in table.to_pylist():
            for col in ("problem", "answer", "task", "source"):
                if not isinstance(row[col], str) or not row[col]:
                    fail(f"{shard.name}: empty {col} in row {rows}")
            n = row["problem"].count("<image>")
            if n != len(row["images"]):
                fail(f"{shard.name}: row {rows} has {n} <image> placeholders but {len(row['images'])} images")
            for img in row["images"]:
                if not (img["bytes"].startswith(PNG) or img["bytes"].startswith(JPEG)):
                    fail(f"{shard.name}: row {rows} image {img['path']} is neither PNG nor JPEG")
            tasks[row["task"]] = tasks.get(row["task"], 0) + 1
            rows += 1
    try:  # Decode one image when Pillow is around: the bytes must be a real image.
        from PIL import Image

        first = pq.read_table(shards[0]).column("images")[0].as_py()
        if first:
            Image.open(io.BytesIO(first[0]["bytes"])).load()
    except ImportError:
        pass
    hf = ""
    try:  # When Hugging Face `datasets` is installed, load it the way EasyR1 does.
        import datasets

        ds = datasets.load_dataset("parquet", data_files=[str(p) for p in shards], split="train")
        if type(ds.features["images"].feature).__name__ != "Image":
            fail(f"datasets reads images as {ds.features['images']}, expected a list of Image")
        if len(ds) != rows:
            fail(f"datasets reads {len(ds)} rows, pyarrow {rows}")
        first = next((r for r in ds if r["images"]), None)
        if first is not None:
            first["images"][0].load()
        hf = ", loads in datasets"
    except ImportError:
        pass
    print(f"check_parquet: ok{hf}, {len(shards)} shard(s), {rows} rows, tasks {json.dumps(tasks, sort_keys=True)}")


if __name__ == "__main__":
    main()
