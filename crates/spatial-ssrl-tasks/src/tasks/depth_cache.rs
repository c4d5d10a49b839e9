//! A one-entry cache of work derived from a scene's depth map, for tasks whose per-call cost
//! is mostly a scan of the map (`generate` is usually called several times per scene).

use std::sync::{Arc, Mutex, Weak};

use crate::error::Result;
use crate::task::DepthMap;

/// The value computed from the last depth map seen. Only a pure function of the map (and of
/// the task's fixed config) may be stored, so a hit changes no result.
///
/// The key is a `Weak` to the map: it keeps the allocation alive, so a live `Arc` at the same
/// address is the same map, never a new one that reuses freed memory.
pub(crate) struct DepthCache<T>(Mutex<Option<(Weak<DepthMap>, Arc<T>)>>);

impl<T> DepthCache<T> {
    /// The value for `depth`: cached when the last call saw this very map, else `compute()`
    /// (run without holding the lock, so threads on other scenes do not wait).
    pub(crate) fn get_or_compute(
        &self,
        depth: &Arc<DepthMap>,
        compute: impl FnOnce() -> Result<T>,
    ) -> Result<Arc<T>> {
        let lock = || {
            self.0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        if let Some((map, hit)) = lock().as_ref()
            && std::ptr::eq(map.as_ptr(), Arc::as_ptr(depth))
        {
            return Ok(Arc::clone(hit));
        }
        let fresh = Arc::new(compute()?);
        *lock() = Some((Arc::downgrade(depth), Arc::clone(&fresh)));
        Ok(fresh)
    }
}

impl<T> Default for DepthCache<T> {
    fn default() -> Self {
        Self(Mutex::new(None))
    }
}

impl<T> Clone for DepthCache<T> {
    /// A clone starts empty.
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl<T> std::fmt::Debug for DepthCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DepthCache")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_only_the_same_map() {
        let cache = DepthCache::default();
        let a = Arc::new(DepthMap::from_values(2, 1, vec![1.0, 2.0]).unwrap());
        let same_values = Arc::new(DepthMap::from_values(2, 1, vec![1.0, 2.0]).unwrap());
        let mut calls = 0;
        let mut get = |d: &Arc<DepthMap>| {
            *cache
                .get_or_compute(d, || {
                    calls += 1;
                    Ok(calls)
                })
                .unwrap()
        };
        assert_eq!(get(&a), 1);
        assert_eq!(get(&a), 1);
        assert_eq!(get(&same_values), 2);
        assert_eq!(get(&a), 3);
        drop(a);
        let b = Arc::new(DepthMap::from_values(2, 1, vec![5.0, 6.0]).unwrap());
        assert_eq!(get(&b), 4);
    }
}
