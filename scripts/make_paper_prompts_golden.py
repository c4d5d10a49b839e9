"""Golden prompts for the paper mode, built by the paper's own prompt code.

Lifts the prompt builders out of InternLM/Spatial-SSRL's `evaluation/` (with `ast`, so no model
is loaded) and applies them to the bench fixtures: ViewSpatial's `prompt_format`, VSI-Bench's
`fix_prompt`, the fork's `ImageMCQDataset.build_prompt` and `Spatial457.build_prompt`
(+ `build_subtask_instruction`), with the fork's reasoning prompt appended to every text part
as its `preproc_content` does. One JSON line per item and mode;
`crates/spatial-ssrl-bench/tests/paper.rs` compares each with the Rust request text.

    python3 scripts/make_paper_prompts_golden.py /path/to/Spatial-SSRL tests/fixtures/bench \
        > tests/fixtures/bench/paper_prompts_golden.jsonl
"""

import ast
import json
import os
import re
import string
import sys
import types

import pandas as pd

REASONING = None  # read from the fork's base.py below


def nodes(path, cls=None):
    body = ast.parse(open(path, encoding="utf-8").read()).body
    if cls is not None:
        body = next(n for n in body if isinstance(n, ast.ClassDef) and n.name == cls).body
    return body


def lift(path, names, env, cls=None):
    for node in nodes(path, cls):
        if isinstance(node, ast.FunctionDef) and node.name in names:
            node.decorator_list = []
            exec(compile(ast.Module([node], []), path, "exec"), env)
    return env


def reasoning_prompt(fork):
    src = open(os.path.join(fork, "vlm/base.py"), encoding="utf-8").read()
    return ast.literal_eval(re.search(r"reasoning_prompt = (\"[^\n]*\")", src).group(1))


def main(root, fixtures):
    ev = os.path.join(root, "evaluation")
    fork = os.path.join(ev, "Remaining_Bench_eval/vlmeval")
    r = reasoning_prompt(fork)
    out = []

    # ViewSpatial: main.py's module-level `if cot: prompt_format = ...`.
    vs = os.path.join(ev, "ViewSpatial_eval/main.py")
    fmt_node = next(n for n in nodes(vs) if isinstance(n, ast.If)
                    and isinstance(n.test, ast.Name) and n.test.id == "cot")
    records = json.load(open(os.path.join(fixtures, "viewspatial.json"), encoding="utf-8"))
    for cot in (True, False):
        env = {"cot": cot}
        exec(compile(ast.Module([fmt_node], []), vs, "exec"), env)
        for i, item in enumerate(records):
            text = item["question"] + '\n' + item['choices'] + env["prompt_format"]
            out.append({"bench": "viewspatial", "file": "viewspatial.json", "index": i,
                        "cot": cot, "text": text})

    # VSI-Bench: vsi_infer.py's fix_prompt, on both annotation layouts.
    env = lift(os.path.join(ev, "VSI-bench_eval/vsi_infer.py"), {"fix_prompt"}, {})
    for file in ["vsibench.json", "vsibench_official.jsonl"]:
        text = open(os.path.join(fixtures, file), encoding="utf-8").read()
        recs = json.loads(text) if text.lstrip().startswith("[") else [
            json.loads(l) for l in text.splitlines() if l.strip()]
        for i, s in enumerate(recs):
            if "options" in s:
                opts = list(s["options"] or []) + [None] * 4
                options = opts[:4]
            else:
                options = [s["A"], s["B"], s["C"], s["D"]]
            for cot in (True, False):
                out.append({"bench": "vsibench", "file": file, "index": i, "cot": cot,
                            "text": env["fix_prompt"](s["question"], options, cot)})

    # The fork's multiple-choice prompt (ImageMCQDataset.build_prompt) on the TSV fixtures.
    mcq = lift(os.path.join(fork, "dataset/image_mcq.py"), {"build_prompt"},
               {"string": string, "pd": pd, "toliststr": lambda x: [x]}, cls="ImageMCQDataset")
    this = types.SimpleNamespace(meta_only=False, dump_image=lambda line: "image.jpg")
    for bench, file in [("spatialeval", "spatialeval.tsv"), ("3dsrbench", "3dsrbench.tsv")]:
        data = pd.read_csv(os.path.join(fixtures, file), sep="\t")
        for _, line in data.iterrows():
            msgs = mcq["build_prompt"](this, line)
            for cot in (True, False):
                text = "".join(m["value"] + (r if cot else "") for m in msgs if m["type"] == "text")
                out.append({"bench": bench, "file": file, "index": int(line["index"]),
                            "cot": cot, "text": text})

    # Spatial457: build_prompt's text parts around the image, each followed by the suffix
    # (the reasoning prompt; "Please directly give the answer." in the base model's direct run).
    s457_utils = {}
    exec(open(os.path.join(fork, "dataset/utils/spatial457.py"), encoding="utf-8").read(), s457_utils)
    s457 = lift(os.path.join(fork, "dataset/spatial457.py"), {"build_subtask_instruction"}, {},
                cls="Spatial457")
    this = types.SimpleNamespace(dataset_utils=s457_utils["Spatial457_utils"]())
    data = pd.read_csv(os.path.join(fixtures, "spatial457.tsv"), sep="\t")
    for _, line in data.iterrows():
        i1, i2 = s457["build_subtask_instruction"](this, line["category"])
        for cot in (True, False):
            suffix = r if cot else "Please directly give the answer."
            text = "".join(t + suffix for t in [i1, line["question"], i2])
            out.append({"bench": "spatial457", "file": "spatial457.tsv",
                        "index": int(line["index"]), "cot": cot, "text": text})
    return out


if __name__ == "__main__":
    for case in main(sys.argv[1], sys.argv[2]):
        print(json.dumps(case, ensure_ascii=False))
