"""A tiny random Qwen2.5-VL model folder with transformers' outputs as goldens.

usage: python scripts/make_tiny_qwen_fixture.py OUT_DIR [--seed 0] [--layers 2]
       [--vision-depth 4] [--fullatt 1 3] [--image PATH] [--rgba-image PATH]
       [--max-new-tokens 12]

Writes the same files, tensors and golden.json keys as tests/fixtures/tiny-qwen2_5-vl (see its
README for every tensor's meaning): config.json, generation_config.json, model.safetensors,
preprocessor_config.json, chat_template.json, tokenizer files, golden.safetensors, golden.json.
Sizes other than the layer counts are the public fixture's (hidden 64, 4/2 heads, vision width
32). Weights: `torch.manual_seed(seed)` then the constructor's init with initializer_range 0.1,
then every bias ~ N(0, 0.1) and every RMSNorm weight ~ 1 + N(0, 0.2) from a generator seeded
1000 + seed. Everything runs on CPU in float32 with eager attention.

The tokenizer and chat template are copied from tests/fixtures/tiny-qwen2_5-vl. Used to prove
that the parity suite is fixture-general:
  python scripts/make_tiny_qwen_fixture.py /tmp/tiny-b --seed 7 --layers 3 --image eg2.jpg
  SSRL_TINY_QWEN_DIR=/tmp/tiny-b cargo test -p spatial-ssrl-model
Versions used: torch 2.6.0 (CPU), transformers 4.57.6, torchvision 0.21.0, pillow.
"""

import argparse
import json
import os
import shutil

import numpy as np
import torch
import torchvision
import transformers
from PIL import Image
from safetensors.torch import save_file
from torchvision.transforms.v2 import functional as TF
from transformers import (AutoTokenizer, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration,
                          Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor)

REPO = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
PUBLIC = os.path.join(REPO, "tests", "fixtures", "tiny-qwen2_5-vl")
INPUTS = os.path.join(REPO, "tests", "fixtures", "reference_inputs")
QUESTION = "Which object has a higher location? A. yellow bear kite B. building"
FORMAT = ("\n You FIRST think about the reasoning process as an internal monologue and then "
          "provide the final answer. The reasoning process MUST BE enclosed within <think> "
          "</think> tags. The final answer MUST BE put in \\boxed{}.")
MIN_PIXELS, MAX_PIXELS = 3136, 50176


def recorded_path(path):
    """The path as golden.json records it: relative to the folder above the repository."""
    path = os.path.abspath(path)
    above = os.path.dirname(REPO)
    return os.path.relpath(path, above) if path.startswith(above + os.sep) else path


def build_model(seed, layers, depth, fullatt):
    config = Qwen2_5_VLConfig(
        vocab_size=151936, hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=1e6,
        rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]}, tie_word_embeddings=True,
        hidden_act="silu", max_position_embeddings=32768, initializer_range=0.1,
        bos_token_id=151643, eos_token_id=151645, image_token_id=151655, video_token_id=151656,
        vision_start_token_id=151652, vision_end_token_id=151653,
        vision_config=dict(depth=depth, hidden_size=32, num_heads=2, intermediate_size=64,
                           out_hidden_size=64, fullatt_block_indexes=fullatt, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                           tokens_per_second=2, hidden_act="silu", in_channels=3,
                           initializer_range=0.1))
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    gen = torch.Generator().manual_seed(1000 + seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            elif p.dim() == 1 and ("norm" in name or name.endswith("ln_q.weight")):
                p.copy_(1 + torch.randn(p.shape, generator=gen) * 0.2)
    model.generation_config.bos_token_id = 151643
    model.generation_config.eos_token_id = [151645, 151643]
    model.generation_config.pad_token_id = 151643
    return model


def top_margin(logits):
    top = torch.topk(logits, 2, dim=-1).values
    return top[..., 0] - top[..., 1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--vision-depth", type=int, default=4)
    ap.add_argument("--fullatt", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--image", default=os.path.join(INPUTS, "eg1.jpg"))
    ap.add_argument("--rgba-image", default=os.path.join(INPUTS, "RGB_img.png"))
    ap.add_argument("--max-new-tokens", type=int, default=12)
    args = ap.parse_args()
    out = args.out_dir
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(2)

    model = build_model(args.seed, args.layers, args.vision_depth, args.fullatt)
    model.save_pretrained(out, safe_serialization=True)
    for name in ["tokenizer.json", "tokenizer_config.json", "chat_template.json"]:
        shutil.copy(os.path.join(PUBLIC, name), os.path.join(out, name))
    image_processor = Qwen2VLImageProcessor(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    image_processor.save_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    with open(os.path.join(out, "chat_template.json")) as f:
        chat_template = json.load(f)["chat_template"]
    video_processor = Qwen2VLVideoProcessor(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    processor = Qwen2_5_VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                    video_processor=video_processor, chat_template=chat_template)

    img = Image.open(args.image)
    rgba = Image.open(args.rgba_image)
    user_text = QUESTION + FORMAT
    messages = [{"role": "user", "content": [{"type": "image"},
                                             {"type": "text", "text": user_text}]}]
    chat_text = processor.apply_chat_template(messages, tokenize=False,
                                              add_generation_prompt=True)
    inputs = processor(text=[chat_text], images=[img.convert("RGB")], return_tensors="pt")
    ids = inputs["input_ids"]
    grid = inputs["image_grid_thw"]
    n_image_tokens = int(grid.prod()) // 4
    expanded = chat_text.replace("<|image_pad|>", "<|image_pad|>" * n_image_tokens)
    rgba_inputs = image_processor(images=[rgba.convert("RGB")], return_tensors="pt")

    def resized(image, grid_thw):
        h, w = int(grid_thw[0, 1]) * 14, int(grid_thw[0, 2]) * 14
        pil = np.asarray(image.convert("RGB").resize((w, h), Image.BICUBIC))
        t = torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)
        fast = TF.resize(t, [h, w], interpolation=TF.InterpolationMode.BICUBIC, antialias=True)
        return h, w, torch.from_numpy(pil.copy()), fast.permute(1, 2, 0).contiguous()

    h, w, resized_u8, resized_fast = resized(img, grid)
    rh, rw, rgba_u8, rgba_fast = resized(rgba, rgba_inputs["image_grid_thw"])

    visual = model.model.visual
    lm = model.model.language_model
    g = {}
    with torch.no_grad():
        pv, thw = inputs["pixel_values"], grid
        g["vision_patch_embeds"] = visual.patch_embed(pv)
        g["vision_rotary_pos_emb"] = visual.rot_pos_emb(thw)
        window_index, cu = visual.get_window_index(thw)
        cu = torch.unique_consecutive(torch.tensor(cu, dtype=torch.int64))
        g["vision_window_index"] = window_index.to(torch.int64)
        g["vision_cu_window_seqlens"] = cu
        blocks = []
        hooks = [b.register_forward_hook(lambda m, i, o: blocks.append(o.detach().clone()))
                 for b in visual.blocks]
        image_embeds = visual(pv, grid_thw=thw)
        for hk in hooks:
            hk.remove()
        g["vision_block_outputs"] = torch.stack(blocks)
        g["vision_merger_input"] = blocks[-1]
        g["image_embeds"] = image_embeds
        position_ids, rope_deltas = model.model.get_rope_index(ids, thw, None,
                                                               inputs["attention_mask"])
        g["position_ids"], g["rope_deltas"] = position_ids, rope_deltas
        norm_in = []
        hk = lm.norm.register_forward_hook(lambda m, i, o: norm_in.append(i[0].detach().clone()))
        fwd = model(**inputs, output_hidden_states=True)
        hk.remove()
        logits = fwd.logits[0]
        hs = torch.stack([x[0] for x in fwd.hidden_states])
        g["inputs_embeds"] = hs[0]
        g["hidden_states"] = hs
        g["final_norm_input"] = norm_in[0][0]
        g["final_hidden"] = hs[-1]
        g["logits_last4"] = logits[-4:]
        top5 = torch.topk(logits, 5, dim=-1)
        g["logits_top5_ids"], g["logits_top5_values"] = top5.indices, top5.values
        g["logits_logsumexp"] = torch.logsumexp(logits, dim=-1)
        logp = torch.log_softmax(logits, dim=-1)
        g["next_token_logprobs"] = logp[:-1].gather(1, ids[0, 1:, None])[:, 0]
        gen = model.generate(**inputs, max_new_tokens=args.max_new_tokens, do_sample=False,
                             output_logits=True, return_dict_in_generate=True)
        seq = gen.sequences
        step_logits = torch.stack([x[0] for x in gen.logits])
        st5 = torch.topk(step_logits, 5, dim=-1)
    new_ids = seq[0, ids.shape[1]:]
    g.update({
        "input_ids": ids, "attention_mask": inputs["attention_mask"],
        "prompt_ids_unexpanded": torch.tensor(tokenizer(chat_text)["input_ids"]),
        "pixel_values": inputs["pixel_values"], "image_grid_thw": grid,
        "generated_ids": new_ids, "generated_sequence": seq,
        "generated_step_top5_ids": st5.indices, "generated_step_top5_values": st5.values,
        "rgba_pixel_values": rgba_inputs["pixel_values"],
        "rgba_image_grid_thw": rgba_inputs["image_grid_thw"],
        "resized_image_u8": resized_u8, "rgba_resized_image_u8": rgba_u8,
        "resized_image_fast_u8": resized_fast, "rgba_resized_image_fast_u8": rgba_fast,
    })
    g = {k: v.detach().clone().contiguous() for k, v in g.items()}
    for k, v in g.items():
        if v.dtype in (torch.int32, torch.long):
            g[k] = v.to(torch.int64)
    save_file(g, os.path.join(out, "golden.safetensors"))

    def resize_info(grid_thw, hh, ww):
        return {"grid_t": int(grid_thw[0, 0]), "grid_h": int(grid_thw[0, 1]),
                "grid_w": int(grid_thw[0, 2]), "resized_height": hh, "resized_width": ww}

    new = new_ids.tolist()
    golden = {
        "variant": "generated", "seed": args.seed,
        "image": recorded_path(args.image), "image_size_wh": list(img.size),
        "image_mode": img.mode, "image_resize": resize_info(grid, h, w),
        "rgba_image": recorded_path(args.rgba_image), "rgba_image_size_wh": list(rgba.size),
        "rgba_image_mode": rgba.mode,
        "rgba_image_resize": resize_info(rgba_inputs["image_grid_thw"], rh, rw),
        "min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS,
        "question": QUESTION, "format_prompt": FORMAT, "user_text": user_text,
        "chat_template": "Qwen2-VL / Qwen2.5-VL chat template (chat_template.json in this folder)",
        "chat_text": chat_text, "chat_text_expanded": expanded,
        "num_image_tokens": n_image_tokens, "seq_len": ids.shape[1],
        "rope_deltas": int(rope_deltas[0, 0]),
        "generated_text": tokenizer.decode(new, skip_special_tokens=False),
        "generated_text_skip_special": tokenizer.decode(new, skip_special_tokens=True),
        "generated_ids": new,
        "generated_step_top1_minus_top2": top_margin(step_logits).tolist(),
        "prompt_top1_minus_top2_min": float(top_margin(logits).min()),
        "max_new_tokens": args.max_new_tokens, "attn_implementation": "eager",
        "dtype": "float32",
        "config": {"text": {"num_hidden_layers": args.layers},
                   "vision": {"depth": args.vision_depth,
                              "fullatt_block_indexes": args.fullatt}},
        "tensors": {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")}
                    for k, v in g.items()},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "torchvision": torchvision.__version__},
    }
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(golden, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"{out}: {ids.shape[1]} prompt tokens, generated {new}")


if __name__ == "__main__":
    main()
