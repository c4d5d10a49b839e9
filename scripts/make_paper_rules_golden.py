"""Golden cases for the paper's scoring rules, computed by the paper's own code.

Runs the answer-reading functions of InternLM/Spatial-SSRL's `evaluation/` scripts (lifted out
of their files with `ast`, so no model is loaded) on a spread of response shapes and writes one
JSON line per case. `crates/spatial-ssrl-bench/tests/paper.rs` checks every line against the
Rust rules, so the fixture can be regenerated (or extended) without touching the test.

    python3 scripts/make_paper_rules_golden.py /path/to/Spatial-SSRL \
        > tests/fixtures/bench/paper_rules_golden.jsonl
"""

import ast
import copy
import json
import os
import re
import string
import sys
import types

import numpy as np


def lift(path, names, env, cls=None):
    """Defines the named top-level functions (or methods of `cls`) of `path` in `env`."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    body = tree.body
    if cls is not None:
        body = next(n for n in body if isinstance(n, ast.ClassDef) and n.name == cls).body
    for node in body:
        if isinstance(node, ast.FunctionDef) and node.name in names:
            node.decorator_list = []
            exec(compile(ast.Module([node], []), path, "exec"), env)
    return env


def main(root):
    ev = os.path.join(root, "evaluation")
    out = []

    # ViewSpatial-Bench: main.py's extract / extract_pred / extract_option.
    for cot in (True, False):
        env = lift(os.path.join(ev, "ViewSpatial_eval/main.py"),
                   {"extract", "extract_pred", "extract_option"}, {"re": re, "cot": cot})
        for pred in ["<think>A?</think> \\boxed{B}", "\\boxed{b. front}", "The answer is C",
                     "\\boxed{Ahead}", "\\boxed{A} then \\boxed{D}", "a cup. B", "\\boxed{\\text{C}}",
                     "", "\\boxed{(D)}", "D"]:
            for ans in ["A. right", "B. front", "C. back-left", "D. front"]:
                out.append({"bench": "viewspatial", "cot": cot, "prediction": pred, "answer": ans,
                            "correct": env["extract_pred"](pred) == env["extract_option"](ans)})

    # VSI-Bench: check_accuracy.py's extract / critic_multichoice / mra and its scoring loop.
    env = lift(os.path.join(ev, "VSI-bench_eval/check_accuracy.py"),
               {"extract", "critic_multichoice", "mra"}, {"re": re})
    for cot in (True, False):
        for pred in ["\\boxed{4}", "\\boxed{4 chairs}", " 3.0\n", "\\boxed{b}", "\\boxed{B.}", "b",
                     "\\boxed{2.2}", "\\boxed{1_5}", "\\boxed{ 12.5 }", "\\boxed{inf}", "3", "\\boxed{}",
                     "\\boxed{3.5e1}", "About 5", "\\boxed{-2}"]:
            for ans in ["4", "2", "15", "35", "0", "B", "A"]:
                p = pred.strip()  # vsi_infer.py strips every answer before saving it
                if cot:
                    p = env["extract"](p)
                if len(p) == 1 and p.isalpha():
                    s = env["critic_multichoice"](p, ans)
                else:
                    s = env["mra"](p, ans)
                out.append({"bench": "vsibench", "cot": cot, "prediction": pred, "answer": ans,
                            "score": s})

    # What'sUp: main.py's extract and evaluate_scores (Controlled_Images_A: the answer is A).
    env = lift(os.path.join(ev, "whatsup_eval/main.py"), {"extract", "evaluate_scores"},
               {"re": re, "args": types.SimpleNamespace(dataset="Controlled_Images_A")})
    for cot in (True, False):
        for pred in ["\\boxed{A}", "A \\boxed{B}", "\\boxed{A mug on a plate}", "the answer is a",
                     "B? No, A.", "boxed{C}", "\\boxed{B: A mug}", ""]:
            ans = env["extract"](pred) if cot else pred
            out.append({"bench": "whatsup", "cot": cot, "prediction": pred,
                        "correct": bool(env["evaluate_scores"](ans))})

    # The VLMEvalKit fork's judge-free multiple-choice matching (utils/matching_util.py).
    fork = os.path.join(ev, "Remaining_Bench_eval/vlmeval")
    env = lift(os.path.join(fork, "utils/matching_util.py"),
               {"can_infer_option", "can_infer_text", "can_infer"},
               {"cp": copy, "os": os, "string": string, "re": re})
    options = ["left", "right", "front", "back"]
    for pred in ["\\boxed{B}", "A or B", "It is on the right side", "Cannot determine the answer. B",
                 "<think>The cup is on the left.</think>\\boxed{A}", "A. left", "left or right",
                 "Z", "Answer: (C)", "I think D is wrong, C", "FRONT", "b"]:
        got = env["can_infer"](pred, {k: v for k, v in zip("ABCD", options)})
        out.append({"bench": "mcq", "prediction": pred, "options": options,
                    "answer": got if got and got != "Z" else None})

    # Spatial457: the fork's inline template regexes (spatial457.py evaluate, ROBUST) and is_correct.
    s457 = {}
    exec(open(os.path.join(fork, "dataset/utils/spatial457.py"), encoding="utf-8").read(), s457)
    utils = s457["Spatial457_utils"]()
    for pred in ["{'Reasoning': 'x', 'Answer': 'jet'}", "'Answer': 3 objects", "\\boxed{Yes}",
                 "red", "Red", "none", "two", "{\"Answer\": \"sedan\"}", "airliner", "5"]:
        for ans in ["red", "No", "2", "Yes", "suv", "aeroplane"]:
            m = (re.search(r"Answer': '(.*?)'", pred) or re.search(r'Answer": "(.*?)"', pred)
                 or re.search(r"Answer': (\d)", pred))
            p = m.group(1) if m else pred
            out.append({"bench": "spatial457", "prediction": pred, "answer": ans,
                        "correct": bool(utils.is_correct(ans, p))})

    # QSpatial-plus: the fork's QSpatial.parse_prediction / get_multiplier and its delta_2 test.
    q = lift(os.path.join(fork, "dataset/image_vqa.py"), {"parse_prediction", "get_multiplier"},
             {"re": re, "np": np}, cls="QSpatial")
    qs = types.SimpleNamespace()
    qs.get_multiplier = lambda unit: q["get_multiplier"](qs, unit)
    for pred in ["\\scalar{10} \\distance_unit{in}", "\\scalar{1-2} \\distance_unit{meters}",
                 "\\boxed{1.5 m}", "\\scalar{3} \\distance_unit{yards}", "about 3 m",
                 "\\scalar{150} \\unit{cm}", "\\scalar{2} {ft}", "\\scalar{} \\distance_unit{m}",
                 "\\scalar{0.4} \\distance_unit{3}\\ft", "\\scalar{45} \\distance_unit{cm}"]:
        for value, unit in [(1.5, "meters"), (30, "centimeters"), (2, "feet"), (10, "inches")]:
            try:
                v = q["parse_prediction"](qs, pred)
            except IndexError:
                v = 1e-8
            p = np.array([v]) + 1e-8
            t = np.array([value * qs.get_multiplier(unit)]) + 1e-8
            ok = bool((np.stack([p / t, t / p]).max(0) < 2.0)[0])
            out.append({"bench": "qspatial", "prediction": pred, "value": value, "unit": unit,
                        "within_2": ok})

    return out


if __name__ == "__main__":
    import contextlib
    import warnings

    warnings.simplefilter("ignore")
    # The fork prints "Unknown unit: .." while parsing; keep stdout for the JSON lines.
    with contextlib.redirect_stdout(sys.stderr):
        cases = main(sys.argv[1])
    for line in cases:
        print(json.dumps(line, ensure_ascii=False))
