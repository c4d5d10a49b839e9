//! Key/value cache for incremental decoding.

use burn::tensor::Tensor;

/// Keys and values of every decoder layer, `[batch, kv_heads, cached_len, head_dim]` each.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    pub(crate) layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
}

impl KvCache {
    /// An empty cache for `layers` decoder layers.
    pub fn new(layers: usize) -> Self {
        KvCache {
            layers: vec![None; layers],
        }
    }

    /// Number of cached positions (0 when empty).
    pub fn len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .map(|(k, _)| k.dims()[2])
            .unwrap_or(0)
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        for l in &mut self.layers {
            *l = None;
        }
    }

    /// Appends `k`/`v` (`[batch, kv_heads, new, head_dim]`) to layer `i`, returning the whole.
    pub(crate) fn append(
        &mut self,
        i: usize,
        k: Tensor<4>,
        v: Tensor<4>,
    ) -> (Tensor<4>, Tensor<4>) {
        let (k, v) = match self.layers[i].take() {
            Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
            None => (k, v),
        };
        self.layers[i] = Some((k.clone(), v.clone()));
        (k, v)
    }
}
