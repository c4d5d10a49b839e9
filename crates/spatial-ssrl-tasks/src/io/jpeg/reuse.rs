//! Reuse of a thread's previous encodes: many exported pictures of a source differ from the
//! last one of the same size only in a few places (crop's blacked-out picture moves its
//! square; flip turns one tile), and an MCU whose pixels and DC predictions are unchanged
//! codes to the same bits. Those bits are copied instead of recomputed.
//!
//! The copy is exact by construction: an MCU's bits are a function of its 16x16 pixels
//! (edge padding included) and of the three DC predictions it starts from, and both are
//! compared in full before a copy. So the output is byte-for-byte what a fresh encode
//! gives, whatever this thread encoded before (`reuse_changes_no_byte` tests it).
//!
//! Keeping a record costs a copy of the picture and comparing costs a pass over both, which
//! buys nothing where consecutive pictures share no MCU (shuffled tiles, crop's candidate
//! patches). After such an encode a size rests: the next 1, 3, then 7 encodes of it neither
//! compare nor keep pixels, and the one after keeps them for a comparison again. That only
//! decides how much is copied, never which bytes are written.

use std::cell::RefCell;

use super::huffman::BitWriter;

/// How many earlier encodes of different sizes a thread keeps (crop alternates the full
/// picture with its patches, so two).
const KEPT: usize = 2;

/// Where one MCU's bits are kept and the DC predictions around them.
#[derive(Clone, Copy)]
pub(super) struct Coded {
    /// Bit range in the record's `stream`, or in `held` when `in_held`.
    pub(super) from: u64,
    pub(super) to: u64,
    /// DC predictions (Y, Cb, Cr) the bits were coded from, and those they leave.
    pub(super) start: [i32; 3],
    pub(super) after: [i32; 3],
    pub(super) in_held: bool,
}

/// One earlier encode: its pixels, its unstuffed coded stream, and where each MCU is.
///
/// Not always the last picture exactly: an MCU that the last picture painted in one colour
/// (crop's blacked-out square) keeps the pixels and bits it had before, copied to `held`,
/// since a one-colour MCU costs almost nothing to code afresh while the content under the
/// next picture's square would cost a full encode.
pub(super) struct Previous {
    pub(super) key: (u32, u32, u8),
    pub(super) rgb: Vec<u8>,
    pub(super) stream: Vec<u64>,
    /// Bits of the MCUs kept from before a one-colour overlay.
    pub(super) held: Vec<u64>,
    /// Each MCU, in coding order.
    pub(super) mcus: Vec<Coded>,
    /// Comparisons in a row that found under an eighth of the MCUs unchanged.
    misses: u32,
    /// Encodes of this size still to come that skip comparing and keeping pixels.
    pub(super) rest: u32,
}

impl Previous {
    /// An empty record, for a first encode of its size.
    pub(super) fn empty(key: (u32, u32, u8)) -> Self {
        Self {
            key,
            rgb: Vec::new(),
            stream: Vec::new(),
            held: Vec::new(),
            mcus: Vec::new(),
            misses: 0,
            rest: 0,
        }
    }

    /// Whether the record holds a finished encode and its pixels.
    pub(super) fn is_complete(&self) -> bool {
        !self.mcus.is_empty() && !self.rgb.is_empty()
    }

    /// Brings the record up to date after an encode of `rgb` that `compared` with it or not
    /// and copied `reused` of its `mcus` MCUs; keeps the pixels unless the next encode rests.
    /// A compared record's pixels were brought up to date during the encode.
    pub(super) fn settle(&mut self, compared: bool, reused: usize, mcus: usize, rgb: &[u8]) {
        if compared {
            if reused * 8 < mcus {
                self.misses += 1;
                self.rest = (1 << self.misses.min(3)) - 1;
            } else {
                self.misses = 0;
            }
        } else {
            self.rest = self.rest.saturating_sub(1);
        }
        if self.rest > 0 {
            self.rgb.clear();
        } else if !compared {
            self.rgb.clear();
            self.rgb.extend_from_slice(rgb);
        }
    }

    /// The stream of MCUs whose [`Coded::in_held`] is `in_held`.
    pub(super) fn bits_of(&self, in_held: bool) -> &[u64] {
        if in_held { &self.held } else { &self.stream }
    }
}

/// Reused MCUs whose bits follow one another in one stream of a record, waiting to be copied
/// as one run (one call instead of one per MCU).
#[derive(Default)]
pub(super) struct Run {
    in_held: bool,
    from: u64,
    to: u64,
}

impl Run {
    /// Bits waiting to be copied.
    pub(super) fn len(&self) -> u64 {
        self.to - self.from
    }

    /// Adds the record's MCU `c`, first copying what waits when `c` does not continue it.
    pub(super) fn extend(&mut self, c: &Coded, record: &Previous, bits: &mut BitWriter) {
        if self.len() > 0 && (self.in_held != c.in_held || self.to != c.from) {
            self.flush(record, bits);
        }
        if self.len() == 0 {
            (self.in_held, self.from) = (c.in_held, c.from);
        }
        self.to = c.to;
    }

    /// Copies what waits into `bits`.
    pub(super) fn flush(&mut self, record: &Previous, bits: &mut BitWriter) {
        if self.len() > 0 {
            bits.copy(record.bits_of(self.in_held), self.from, self.to);
        }
        self.from = self.to;
    }
}

thread_local! {
    /// Most recent first.
    static KEPT_ENCODES: RefCell<Vec<Previous>> = const { RefCell::new(Vec::new()) };
}

/// This thread's record for pictures of `key` (width, height, quality), taken out of the
/// store; else an empty one, made of the oldest record's buffers when the store is full
/// (a fresh multi-megabyte buffer per picture would cost page faults on every encode).
pub(super) fn take(key: (u32, u32, u8)) -> Previous {
    KEPT_ENCODES.with_borrow_mut(|kept| {
        if let Some(i) = kept.iter().position(|p| p.key == key) {
            return kept.remove(i);
        }
        match kept.len() {
            KEPT.. => {
                let mut old = kept.pop().unwrap_or_else(|| Previous::empty(key));
                old.key = key;
                old.rgb.clear();
                old.mcus.clear();
                old.held.clear();
                (old.misses, old.rest) = (0, 0);
                old
            }
            _ => Previous::empty(key),
        }
    })
}

/// Puts `record` back as the most recent, dropping the oldest beyond [`KEPT`].
pub(super) fn keep(record: Previous) {
    KEPT_ENCODES.with_borrow_mut(|kept| {
        kept.insert(0, record);
        kept.truncate(KEPT);
    });
}

/// Marks which MCUs of the MCU row at `y0` have the same pixels in `rgb` and `old` (both
/// `w x h`): `same[m]` for the MCU at columns `16m..16m + 16`, rows past the image read as
/// its last row, as the encoder pads.
pub(super) fn unchanged_mcus(
    rgb: &[u8],
    old: &[u8],
    (w, h): (usize, usize),
    y0: usize,
    same: &mut [bool],
) {
    same.fill(true);
    let row_bytes = 3 * w;
    for y in y0..(y0 + 16).min(h) {
        let (a, b) = (
            &rgb[y * row_bytes..][..row_bytes],
            &old[y * row_bytes..][..row_bytes],
        );
        // While every MCU still matches, one comparison of the whole row is the fastest test;
        // after that only the MCUs that still match are compared.
        if same.iter().all(|&s| s) && a == b {
            continue;
        }
        // Whole MCUs as 48-byte arrays (a few vector compares each), then the narrower last.
        let (whole_a, whole_b) = (a.chunks_exact(48), b.chunks_exact(48));
        let (rest_a, rest_b) = (whole_a.remainder(), whole_b.remainder());
        for ((s, x), y) in same.iter_mut().zip(whole_a).zip(whole_b) {
            *s = *s && equal48(x, y);
        }
        if let Some(s) = same.get_mut(row_bytes / 48) {
            *s = *s && rest_a == rest_b;
        }
    }
}

/// Equality of two MCU rows of pixels (48 bytes), without early exit.
#[inline(always)]
fn equal48(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (<&[u8; 48]>::try_from(a), <&[u8; 48]>::try_from(b));
    matches!((a, b), (Ok(a), Ok(b)) if a.iter().zip(b).fold(0, |d, (x, y)| d | (x ^ y)) == 0)
}

/// Copies into `old` the pixels of the MCU row at `y0` that changed (`!same[m]`) and are
/// not held (`!held[m]`), so that `old` holds what the record's bits code.
pub(super) fn update_row(
    rgb: &[u8],
    old: &mut [u8],
    (w, h): (usize, usize),
    y0: usize,
    same: &[bool],
    held: &[bool],
) {
    if same.iter().all(|&s| s) {
        return;
    }
    let row_bytes = 3 * w;
    // Runs of neighbouring MCUs to copy, as byte ranges of a row: one copy each per row
    // (a moved square changes a part of each row; the rest is already there).
    let copied = |m: usize| !same[m] && !held[m];
    let n = same.len().min(held.len());
    let mut spans = Vec::new();
    let mut m = 0;
    while m < n {
        if copied(m) {
            let start = m;
            while m < n && copied(m) {
                m += 1;
            }
            spans.push(48 * start..(48 * m).min(row_bytes));
        } else {
            m += 1;
        }
    }
    for y in y0..(y0 + 16).min(h) {
        let (a, b) = (
            &rgb[y * row_bytes..][..row_bytes],
            &mut old[y * row_bytes..][..row_bytes],
        );
        for span in &spans {
            b[span.clone()].copy_from_slice(&a[span.clone()]);
        }
    }
}
