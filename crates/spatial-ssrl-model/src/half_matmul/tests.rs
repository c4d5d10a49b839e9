use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

/// Random f32 activations and 16-bit weights (values of either sign, a few exponents).
fn operands(seed: u64, xs: usize, ws: usize, kind: HalfKind) -> (Vec<f32>, Vec<u16>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = (0..xs).map(|_| rng.random_range(-2.0f32..2.0)).collect();
    let w = (0..ws)
        .map(|_| {
            let v = rng.random_range(-1.0f32..1.0);
            match kind {
                HalfKind::Bf16 => half::bf16::from_f32(v).to_bits(),
                HalfKind::F16 => half::f16::from_f32(v).to_bits(),
            }
        })
        .collect();
    (x, w)
}

/// Sizes around the kernels' block edges: tails of the 16-column panel, the 6-row tile,
/// the 8-lane dot, and more than one 256-row / 256-column block.
const SHAPES: [(usize, usize, usize); 6] = [
    (1, 1, 1),
    (1, 300, 33),
    (2, 17, 16),
    (7, 9, 15),
    (13, 260, 270),
    (100, 40, 48),
];

fn kinds() -> [HalfKind; 2] {
    [HalfKind::Bf16, HalfKind::F16]
}

#[test]
fn matmul_is_the_f64_product_within_f32_rounding() {
    for kind in kinds() {
        for (seed, &(m, k, n)) in SHAPES.iter().enumerate() {
            let (x, bits) = operands(seed as u64, m * k, k * n, kind);
            let bias: Vec<f32> = (0..n).map(|j| j as f32 * 0.25 - 1.0).collect();
            let w = HalfMatrix {
                bits: &bits,
                rows: k,
                cols: n,
                kind,
            };
            let y = matmul(&x, m, w, Some(&bias));
            for i in 0..m {
                for j in 0..n {
                    let exact: f64 = (0..k)
                        .map(|kk| {
                            f64::from(x[i * k + kk]) * f64::from(kind.widen(bits[kk * n + j]))
                        })
                        .sum::<f64>()
                        + f64::from(bias[j]);
                    let got = f64::from(y[i * n + j]);
                    assert!(
                        (got - exact).abs() <= 1e-5 * (k as f64 + 1.0),
                        "{kind:?} {m}x{k}x{n} [{i},{j}]: {got} vs {exact}"
                    );
                }
            }
        }
    }
}

#[test]
fn transposed_is_the_f64_product_within_f32_rounding() {
    for kind in kinds() {
        for (seed, &(m, k, r)) in SHAPES.iter().enumerate() {
            let (x, bits) = operands(seed as u64 + 50, m * k, r * k, kind);
            let w = HalfMatrix {
                bits: &bits,
                rows: r,
                cols: k,
                kind,
            };
            let y = matmul_transposed(&x, m, w);
            for i in 0..m {
                for j in 0..r {
                    let exact: f64 = (0..k)
                        .map(|kk| {
                            f64::from(x[i * k + kk]) * f64::from(kind.widen(bits[j * k + kk]))
                        })
                        .sum();
                    let got = f64::from(y[i * r + j]);
                    assert!(
                        (got - exact).abs() <= 1e-5 * (k as f64 + 1.0),
                        "{kind:?} {m}x{k}x{r} [{i},{j}]: {got} vs {exact}"
                    );
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn simd_kernels_equal_the_portable_arithmetic_bit_for_bit() {
    if !avx2_available() {
        return;
    }
    for kind in kinds() {
        for (seed, &(m, k, n)) in SHAPES.iter().enumerate() {
            let (x, bits) = operands(seed as u64 + 100, m * k, k * n, kind);
            let w = HalfMatrix {
                bits: &bits,
                rows: k,
                cols: n,
                kind,
            };
            let (mut simd, mut plain) = (vec![0f32; m * n], vec![1f32; m * n]);
            // SAFETY: features checked by `avx2_available`.
            unsafe { avx2::column_block(&x, m, w, 0, n, &mut simd) };
            portable::column_block(&x, m, w, 0, n, &mut plain);
            assert_eq!(
                bits_of(&simd),
                bits_of(&plain),
                "{kind:?} columns {m}x{k}x{n}"
            );
            // The same shapes read as [rows = n, cols = k] for the transposed kernel.
            let wt = HalfMatrix {
                bits: &bits,
                rows: n,
                cols: k,
                kind,
            };
            unsafe { avx2::row_block(&x, m, wt, 0, n, &mut simd) };
            portable::row_block(&x, m, wt, 0, n, &mut plain);
            assert_eq!(bits_of(&simd), bits_of(&plain), "{kind:?} rows {m}x{k}x{n}");
        }
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let (m, k, n) = (5, 70, 600);
    let (x, bits) = operands(7, m * k, k * n, HalfKind::Bf16);
    let w = HalfMatrix {
        bits: &bits,
        rows: k,
        cols: n,
        kind: HalfKind::Bf16,
    };
    let wt = HalfMatrix {
        bits: &bits,
        rows: n,
        cols: k,
        kind: HalfKind::Bf16,
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            (
                bits_of(&matmul(&x, m, w, None)),
                bits_of(&matmul_transposed(&x, m, wt)),
            )
        })
    };
    assert_eq!(run(1), run(3));
}

fn bits_of(v: &[f32]) -> Vec<u32> {
    v.iter().map(|f| f.to_bits()).collect()
}

#[cfg(feature = "flex")]
#[test]
fn flex_hooks_match_burns_widened_product() {
    use burn::tensor::{DType, Device, Tensor, TensorData};
    let device = Device::flex();
    let (m, k, n) = (3, 40, 24);
    let (x, bits) = operands(11, m * k, k * n, HalfKind::Bf16);
    let w16: Vec<half::bf16> = bits.iter().map(|&b| half::bf16::from_bits(b)).collect();
    let xt = Tensor::<2>::from_data(TensorData::new(x, [m, k]), (&device, DType::F32));
    let wt = Tensor::<2>::from_data(TensorData::new(w16, [k, n]), (&device, DType::BF16));
    let bias = Tensor::<1>::from_data(TensorData::new(vec![0.5f32; n], [n]), (&device, DType::F32));
    let ours = flex_linear(&xt.clone().reshape([1, m, k]), &wt, Some(bias.clone()))
        .expect("flex tensors take the kernel");
    let burn = xt.clone().matmul(wt.clone().cast(DType::F32)) + bias.unsqueeze();
    let diff = (ours.reshape([m, n]) - burn)
        .abs()
        .max()
        .into_scalar::<f32>();
    assert!(diff < 1e-4, "linear differs from burn by {diff}");
    // A tied head reads the same bits as an embedding [n, k].
    let embed = wt.clone().transpose().cast(DType::F32).cast(DType::BF16);
    let ours = flex_tied_logits(&xt, &embed).expect("flex tensors take the kernel");
    let burn = xt.matmul(wt.cast(DType::F32));
    let diff = (ours - burn).abs().max().into_scalar::<f32>();
    assert!(diff < 1e-4, "tied logits differ from burn by {diff}");
}
