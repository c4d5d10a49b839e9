//! Huffman tables and the entropy-coded bit reader (`jdhuff.c`): codes are looked up
//! `LOOKAHEAD` bits at a time, byte stuffing and markers end the stream as libjpeg does.

/// Bits looked up at once when decoding Huffman codes.
pub(super) const LOOKAHEAD: u32 = 9;

#[derive(Clone)]
pub(super) struct Huffman {
    /// Canonical-code tables as in libjpeg: largest code of each length and the offset from a
    /// code to its value index.
    maxcode: [i32; 18],
    valoffset: [i32; 17],
    values: Vec<u8>,
    /// For each `LOOKAHEAD`-bit prefix: `(code length, value)`, length 0 when the code is longer.
    fast: Vec<(u8, u8)>,
}

impl Default for Huffman {
    fn default() -> Self {
        Self {
            maxcode: [0; 18],
            valoffset: [0; 17],
            values: Vec::new(),
            fast: vec![(0, 0); 1 << LOOKAHEAD],
        }
    }
}

impl Huffman {
    pub(super) fn new(counts: &[u8; 16], values: Vec<u8>) -> Option<Self> {
        let mut h = Huffman {
            values,
            ..Default::default()
        };
        let mut code = 0i32;
        let mut p = 0i32;
        for len in 1..=16 {
            let n = i32::from(counts[len - 1]);
            if n > 0 {
                h.valoffset[len] = p - code;
                code += n;
                p += n;
                h.maxcode[len] = code - 1;
            } else {
                h.maxcode[len] = -1;
            }
            if code > (1 << len) {
                return None;
            }
            code <<= 1;
        }
        h.maxcode[17] = i32::MAX;
        if p as usize > h.values.len() {
            return None;
        }
        // Fill the lookahead table from the canonical codes of length <= LOOKAHEAD.
        let mut code = 0u32;
        let mut k = 0usize;
        for len in 1..=LOOKAHEAD {
            for _ in 0..counts[len as usize - 1] {
                let shift = LOOKAHEAD - len;
                for fill in 0..(1u32 << shift) {
                    h.fast[((code << shift) | fill) as usize] = (len as u8, h.values[k]);
                }
                code += 1;
                k += 1;
            }
            code <<= 1;
        }
        Some(h)
    }
}

pub(super) struct Bits<'a> {
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
    pub(super) acc: u64,
    pub(super) nbits: u32,
    /// A marker was reached: further reads yield zeros (libjpeg does the same).
    pub(super) hit_marker: bool,
}

impl<'a> Bits<'a> {
    pub(super) fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            acc: 0,
            nbits: 0,
            hit_marker: false,
        }
    }

    pub(super) fn fill(&mut self) {
        while self.nbits <= 56 {
            let mut byte = 0u8;
            if !self.hit_marker && self.pos < self.data.len() {
                byte = self.data[self.pos];
                if byte == 0xFF {
                    let next = self.data.get(self.pos + 1).copied().unwrap_or(0);
                    if next == 0x00 {
                        self.pos += 2;
                    } else {
                        self.hit_marker = true;
                        byte = 0;
                    }
                } else {
                    self.pos += 1;
                }
            }
            self.acc |= u64::from(byte) << (56 - self.nbits);
            self.nbits += 8;
        }
    }

    pub(super) fn bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        if self.nbits < n {
            self.fill();
        }
        let v = (self.acc >> (64 - n)) as u32;
        self.acc <<= n;
        self.nbits -= n;
        v
    }

    pub(super) fn decode(&mut self, h: &Huffman) -> Option<u8> {
        if self.nbits < 16 {
            self.fill();
        }
        let (len, value) = h.fast[(self.acc >> (64 - LOOKAHEAD)) as usize];
        if len > 0 {
            self.acc <<= len;
            self.nbits -= u32::from(len);
            return Some(value);
        }
        let mut code = 0i32;
        for len in 1..=16 {
            code = (code << 1) | self.bits(1) as i32;
            if code <= h.maxcode[len] {
                return h.values.get((code + h.valoffset[len]) as usize).copied();
            }
        }
        None
    }

    pub(super) fn receive_extend(&mut self, s: u32) -> i32 {
        if s == 0 {
            return 0;
        }
        let v = self.bits(s) as i32;
        if v < (1 << (s - 1)) {
            v - (1 << s) + 1
        } else {
            v
        }
    }

    /// Drops buffered bits and consumes the RSTn marker the decoder stopped at.
    pub(super) fn restart(&mut self) -> Option<()> {
        self.acc = 0;
        self.nbits = 0;
        self.hit_marker = false;
        // Skip to the marker (fill stops right before it).
        while self.pos + 1 < self.data.len() {
            if self.data[self.pos] == 0xFF && (0xD0..=0xD7).contains(&self.data[self.pos + 1]) {
                self.pos += 2;
                return Some(());
            }
            self.pos += 1;
        }
        None
    }
}
