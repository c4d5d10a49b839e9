#!/usr/bin/env python3
"""PyTorch/transformers CPU reference times for `crates/spatial-ssrl-model/benches/forward.rs`.

Not part of CI. Needs torch and transformers (tested with torch 2.6.0, transformers 4.57.6):
    python3 -m venv venv && venv/bin/pip install torch transformers safetensors
    venv/bin/python scripts/bench_pytorch.py [--fixture tests/fixtures/tiny-qwen2_5-vl]

Measures, in float32 with eager attention, the same three things as the Rust bench:
  tiny_prefill          tiny fixture model, 133-token prompt + its image, last-position logits
  tiny_decode_token     one KV-cached step after that prefill
  decoder_layer_3b/seqN one 3B-shaped decoder layer (hidden 2048, 16 heads, 2 kv heads,
                        intermediate 11008; vocab 1024) over N = 1, 128 and 1024 tokens
  decoder_layer_3b/decode_afterN
                        one KV-cached step of that layer after an N-token prefill
                        (N = 128, 1024; the cache is cropped back after each step)
  decoder_layer_3b_bf16/...
                        with --bf16: the same layer converted to bfloat16 (weights and
                        activations; PyTorch's own CPU bf16 path, for reference: ours keeps
                        f32 activations and accumulation and only stores the weights in bf16)
Prints the median of repeated runs in milliseconds, and the GFLOP/s of the 3B layer
forwards (2 x multiply-adds of the projections and the attention products).
Run it right before or after `cargo bench -p spatial-ssrl-model --bench forward`, on the
same cores, so the two sets of numbers come from the same session.
"""
import argparse
import statistics
import time

import torch
from safetensors.torch import load_file
from transformers import Qwen2_5_VLForConditionalGeneration
from transformers.models.qwen2_5_vl.configuration_qwen2_5_vl import Qwen2_5_VLTextConfig
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLTextModel


def median_ms(fn, warmup=2, runs=20):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixture", default="tests/fixtures/tiny-qwen2_5-vl")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    ap.add_argument("--only-3b", action="store_true", help="skip the tiny-fixture timings")
    ap.add_argument("--seqs", default="1,128,1024", help="3B layer forward lengths")
    ap.add_argument("--pasts", default="128,1024", help="3B layer cached-step prefixes")
    ap.add_argument("--bf16", action="store_true", help="also time the layer in bfloat16")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    torch.manual_seed(0)

    with torch.inference_mode():
        if not args.only_3b:
            tiny(args.fixture)
        seqs = [int(v) for v in args.seqs.split(",") if v]
        pasts = [int(v) for v in args.pasts.split(",") if v]
        layer_3b(seqs, pasts, torch.float32)
        if args.bf16:
            layer_3b(seqs, pasts, torch.bfloat16)


def layer_flops(seq, past=0, h=2048, inter=11008, heads=16, kv_heads=2, head_dim=128):
    """Floating-point operations of one 3B decoder layer over `seq` new tokens."""
    proj = 2 * seq * h * (heads * head_dim + 2 * kv_heads * head_dim + heads * head_dim)
    mlp = 2 * seq * 3 * h * inter
    # causal: on average each new token reads past + (seq + 1) / 2 keys
    keys = past + (seq + 1) / 2
    attn = 2 * 2 * seq * keys * heads * head_dim
    return proj + mlp + attn


def tiny(fixture):
    g = load_file(f"{fixture}/golden.safetensors")
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
        fixture, torch_dtype=torch.float32, attn_implementation="eager"
    ).eval()
    inputs = dict(
        input_ids=g["input_ids"],
        attention_mask=g["attention_mask"],
        pixel_values=g["pixel_values"],
        image_grid_thw=g["image_grid_thw"],
    )
    prefill = lambda: model(**inputs, use_cache=True, logits_to_keep=1)
    print(f"tiny_prefill: {median_ms(prefill):.3f} ms")
    out = prefill()
    cache = out.past_key_values
    L = g["input_ids"].shape[1]
    nxt = torch.tensor([[13057]])
    mask = torch.ones(1, L + 1, dtype=torch.long)
    pos = torch.full((3, 1, 1), L + int(g["rope_deltas"][0, 0]), dtype=torch.long)

    def step():
        model(input_ids=nxt, attention_mask=mask, past_key_values=cache, position_ids=pos,
              use_cache=True, cache_position=torch.tensor([L]))
        cache.crop(L)

    print(f"tiny_decode_token: {median_ms(step, runs=100):.3f} ms")


def layer_3b(seqs, pasts, dtype):
    cfg = Qwen2_5_VLTextConfig(
        vocab_size=1024, hidden_size=2048, intermediate_size=11008, num_hidden_layers=1,
        num_attention_heads=16, num_key_value_heads=2, rms_norm_eps=1e-6,
        rope_theta=1e6, rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
    )
    cfg._attn_implementation = "eager"
    layer_model = Qwen2_5_VLTextModel(cfg).eval().to(dtype)
    name = "decoder_layer_3b" + ("_bf16" if dtype == torch.bfloat16 else "")
    for seq in seqs:
        ids = (torch.arange(seq) * 7 % 1000).unsqueeze(0)
        f = lambda: layer_model(input_ids=ids, use_cache=False)
        ms = median_ms(f, runs=10)
        gflops = layer_flops(seq) / ms / 1e6
        print(f"{name}/seq{seq}: {ms:.3f} ms ({gflops:.1f} GFLOP/s)")
    for past in pasts:
        ids = (torch.arange(past) * 7 % 1000).unsqueeze(0)
        out = layer_model(input_ids=ids, use_cache=True)
        cache = out.past_key_values
        nxt = torch.tensor([[42]])
        pos = torch.full((3, 1, 1), past, dtype=torch.long)

        def step():
            layer_model(input_ids=nxt, past_key_values=cache, position_ids=pos, use_cache=True,
                        cache_position=torch.tensor([past]))
            cache.crop(past)

        ms = median_ms(step, runs=50)
        gflops = layer_flops(1, past) / ms / 1e6
        print(f"{name}/decode_after{past}: {ms:.3f} ms ({gflops:.1f} GFLOP/s)")


if __name__ == "__main__":
    main()
