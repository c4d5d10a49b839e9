//! Layers both model families share: the decoder layer, the SwiGLU gate, its attention and the fused
//! scaled-dot-product kernel, the KV cache, the rotary embedding and the M-RoPE tables
//! (chunked for Qwen2.5-VL, interleaved for Qwen3-VL).

pub(crate) mod attention;
pub(crate) mod cache;
pub(crate) mod decoder;
pub(crate) mod gated;
pub(crate) mod mrope;
pub(crate) mod rotary;
pub(crate) mod sdpa;
