//! How the process' allocator treats the large, short-lived activation buffers of a forward.

/// Asks glibc's `malloc` to serve every allocation from its heaps and to keep freed memory
/// for reuse instead of returning it to the kernel. Returns whether the allocator took the
/// settings (false off glibc, where nothing is changed).
///
/// At real widths a decoder layer's activations are tens of megabytes each: above glibc's
/// mmap threshold, so by default every one is a fresh mapping whose pages the kernel faults
/// in and zeroes on first touch, and unmaps again when it is freed. On the 2-core machine
/// this turned a 3B decoder layer over 128 tokens from 77 ms into 85-146 ms, depending on
/// how busy the kernel's page reclaim was. With the heaps kept, the next forward reuses the
/// same pages. The cost: memory freed after a peak stays in the process' resident set
/// (it is reused by later allocations, so the peak itself does not grow).
///
/// Call it once the model is loaded, as the `spatial-ssrl` binary's `infer` and `eval` do:
/// the weights, allocated before, keep their own mappings (a 3B model's 12 GB of f32
/// weights carved from the heap instead made its load's kernel time swing from 9 to 35 s).
/// Training leaves it off, so its measured memory model (`spatial-ssrl-rl`) holds as is.
///
/// ```
/// let kept = spatial_ssrl_model::keep_freed_memory();
/// assert_eq!(kept, cfg!(all(target_os = "linux", target_env = "gnu")));
/// ```
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes the allocator's parameters.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
