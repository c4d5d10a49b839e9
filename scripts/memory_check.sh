#!/usr/bin/env bash
# Runs the memory model's check (crates/spatial-ssrl-rl/tests/memory.rs, ignored in CI): two
# CPU GRPO steps of a 3B-width Qwen2.5-VL with 2 layers / 2 vision blocks (f32, n = 5, 256-token
# responses). Prints per step the trainer's phase seconds (rollout / reward / log-probs /
# update) and the sampled RSS of each phase; asserts the first step's peak RSS against
# MemoryEstimate::first_step_peak and the second's against MemoryEstimate::peak (within 20%).
# Needs ~12 GB of memory (run it alone: `flock /tmp/bigmem.lock scripts/memory_check.sh` on a
# shared machine) and, on 2 busy cores, ~10 minutes. The dev profile is used: it already builds
# burn at opt-level 3, while --release would rebuild burn (~15 CPU-minutes, more than the check).
# Knobs: SSRL_MEMORY_STEPS (2), SSRL_MEMORY_LAYERS, SSRL_MEMORY_RESPONSE,
# SSRL_MEMORY_MICRO_BATCH, SSRL_MEMORY_MAX_PIXELS, SSRL_MEMORY_CONFIG (a config.json).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test -p spatial-ssrl-rl --test memory -- --ignored --nocapture "$@"
