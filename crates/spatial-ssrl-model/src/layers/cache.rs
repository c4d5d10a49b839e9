//! Key/value cache for incremental decoding.
//!
//! Each layer owns one preallocated `[batch, kv_heads, capacity, head_dim]` buffer for keys
//! and one for values. A decoding step writes its new position in place (the buffer is
//! uniquely owned between steps, so burn's `slice_assign` does not copy it) and attention
//! reads the whole buffer with the unused tail masked, so nothing is re-concatenated per
//! step. Capacity grows in [`GROW`]-position steps; K/V stay at `kv_heads`, never repeated
//! per query head.

use burn::tensor::{Device, Tensor};

/// Positions added whenever a buffer must grow (also the spare room a prefill leaves).
pub(crate) const GROW: usize = 256;

#[derive(Debug, Clone)]
struct LayerKv {
    k: Tensor<4>,
    v: Tensor<4>,
}

/// Keys and values of every decoder layer for a batch of sequences.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<Option<LayerKv>>,
    /// Cached positions (all layers agree once a forward has finished).
    len: usize,
    /// Positions each buffer can hold.
    capacity: usize,
}

impl KvCache {
    /// An empty cache for `layers` decoder layers.
    pub fn new(layers: usize) -> Self {
        KvCache {
            layers: vec![None; layers],
            len: 0,
            capacity: 0,
        }
    }

    /// Number of cached positions (0 when empty).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Positions the buffers hold before they must grow.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets everything (and frees the buffers).
    pub fn clear(&mut self) {
        for l in &mut self.layers {
            *l = None;
        }
        self.len = 0;
        self.capacity = 0;
    }

    /// Forgets every position from `len` on (HF `DynamicCache.crop`); the buffers stay.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Makes room for `new` more positions of `[batch, kv_heads, _, head_dim]` in every
    /// layer; returns the capacity the buffers then have (the key length attention reads).
    pub(crate) fn reserve(
        &mut self,
        new: usize,
        [batch, kv_heads, head_dim]: [usize; 3],
        device: &Device,
    ) -> usize {
        let needed = self.len + new;
        if needed <= self.capacity {
            return self.capacity;
        }
        let capacity = (needed + GROW).next_multiple_of(GROW);
        let len = self.len;
        for slot in &mut self.layers {
            let fresh = || Tensor::<4>::zeros([batch, kv_heads, capacity, head_dim], device);
            let grown = match slot.take() {
                Some(old) if len > 0 => {
                    let keep = |t: Tensor<4>| t.narrow(2, 0, len);
                    LayerKv {
                        k: fresh().slice_assign([0..batch, 0..kv_heads, 0..len], keep(old.k)),
                        v: fresh().slice_assign([0..batch, 0..kv_heads, 0..len], keep(old.v)),
                    }
                }
                _ => LayerKv {
                    k: fresh(),
                    v: fresh(),
                },
            };
            *slot = Some(grown);
        }
        self.capacity = capacity;
        capacity
    }

    /// Writes `k`/`v` (`[batch, kv_heads, new, head_dim]`) of layer `i` at the current
    /// length and returns the whole buffers `[batch, kv_heads, capacity, head_dim]`
    /// (positions past `len + new` hold zeros or stale values and must be masked).
    /// [`reserve`](Self::reserve) must have made room.
    pub(crate) fn write(&mut self, i: usize, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let [b, h, new, _] = k.dims();
        let at = self.len..self.len + new;
        let slot = self.layers[i]
            .take()
            .expect("KvCache::reserve runs before every write");
        let k = slot.k.slice_assign([0..b, 0..h, at.clone()], k);
        let v = slot.v.slice_assign([0..b, 0..h, at], v);
        self.layers[i] = Some(LayerKv {
            k: k.clone(),
            v: v.clone(),
        });
        (k, v)
    }

    /// Marks `new` positions written in every layer.
    pub(crate) fn advance(&mut self, new: usize) {
        self.len += new;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn ramp(b: usize, h: usize, n: usize, d: usize, from: f32, device: &Device) -> Tensor<4> {
        let v: Vec<f32> = (0..b * h * n * d).map(|i| from + i as f32).collect();
        Tensor::from_data(TensorData::new(v, [b, h, n, d]), device)
    }

    #[test]
    fn writes_land_at_the_end_survive_growth_and_truncate_rewinds() {
        let device = Device::default();
        let (b, h, d) = (2, 3, 4);
        let mut cache = KvCache::new(2);
        assert_eq!(cache.reserve(5, [b, h, d], &device), 2 * GROW);
        let first = ramp(b, h, 5, d, 0.0, &device);
        for layer in 0..2 {
            cache.write(layer, first.clone(), first.clone() * 2.0);
        }
        cache.advance(5);
        // Needing more than the capacity grows it and keeps what was written.
        let more = 2 * GROW;
        let cap = cache.reserve(more, [b, h, d], &device);
        assert!(cap >= 5 + more && cap.is_multiple_of(GROW), "{cap}");
        let next = ramp(b, h, more, d, 1000.0, &device);
        let (k, v) = cache.write(1, next.clone(), next.clone());
        assert_eq!(k.dims(), [b, h, cap, d]);
        let head = |t: Tensor<4>, at: usize, n: usize| {
            t.narrow(2, at, n).into_data().try_to_vec::<f32>().unwrap()
        };
        assert_eq!(head(k.clone(), 0, 5), head(first.clone(), 0, 5));
        assert_eq!(head(v, 0, 5), head(first * 2.0, 0, 5));
        assert_eq!(head(k, 5, more), head(next, 0, more));
        cache.advance(more);
        assert_eq!(cache.len(), 5 + more);
        cache.truncate(5);
        assert_eq!((cache.len(), cache.capacity()), (5, cap));
        cache.clear();
        assert!(cache.is_empty());
    }
}
