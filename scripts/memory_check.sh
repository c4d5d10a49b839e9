#!/usr/bin/env bash
# Runs the memory model's check (crates/spatial-ssrl-rl/tests/memory.rs, ignored in CI): one
# CPU GRPO step of a 3B-width Qwen2.5-VL with 2 layers / 2 vision blocks (n = 5, 256-token
# responses), peak RSS against MemoryEstimate::first_step_peak (within 20%). Needs ~10 GB of
# memory and, on 2 busy cores, ~20 minutes. Knobs: SSRL_MEMORY_LAYERS, SSRL_MEMORY_RESPONSE,
# SSRL_MEMORY_MICRO_BATCH, SSRL_MEMORY_MAX_PIXELS, SSRL_MEMORY_CONFIG (a config.json).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test -p spatial-ssrl-rl --test memory -- --ignored --nocapture "$@"
