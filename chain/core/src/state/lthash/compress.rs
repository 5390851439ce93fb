//! Many independent SHA-256 compressions of one block each, from the
//! initial state: what an LtHash expansion is made of (64 per entry).
//!
//! One compression is a chain of dependent rounds, so a processor's SHA
//! instructions wait on each other's results; [`sha2::compress256`] runs
//! one such chain per call. Four compressions whose rounds are interleaved
//! keep the SHA unit busy instead: 21 ns a block against 48 on the
//! machine this was measured on (AMD EPYC, SHA-NI). The result is the
//! same; `tests` check it against `sha2` on random blocks, and the state
//! roots pinned in `test-vectors.json` check the expansion that uses it.
//!
//! Processors without the SHA extensions (and other architectures) use
//! `sha2` block by block.

/// SHA-256's initial state (FIPS 180-4 §5.3.3).
pub(super) const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// Blocks compressed together.
pub(super) const WAYS: usize = 4;

/// The states after compressing each block from [`SHA256_IV`].
pub(super) fn compress_from_iv(blocks: &[[u8; 64]; WAYS]) -> [[u32; 8]; WAYS] {
    #[cfg(target_arch = "x86_64")]
    if shani::available() {
        // SAFETY: the processor has the instructions `interleaved` is
        // compiled for (checked just above).
        return unsafe { shani::interleaved(blocks) };
    }
    one_by_one(blocks)
}

/// [`compress_from_iv`] with `sha2`, block by block.
fn one_by_one(blocks: &[[u8; 64]; WAYS]) -> [[u32; 8]; WAYS] {
    blocks.map(|block| {
        let mut state = SHA256_IV;
        sha2::compress256(&mut state, &[block.into()]);
        state
    })
}

#[cfg(target_arch = "x86_64")]
mod shani {
    use std::arch::x86_64::*;

    use super::{SHA256_IV, WAYS};

    /// The round constants (FIPS 180-4 §4.2.2).
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    /// Whether this processor has the SHA extensions and the SSE levels
    /// `interleaved` uses (the standard library caches the answer).
    pub(super) fn available() -> bool {
        is_x86_feature_detected!("sha")
            && is_x86_feature_detected!("sse2")
            && is_x86_feature_detected!("ssse3")
            && is_x86_feature_detected!("sse4.1")
    }

    /// The next four message words from the sixteen before them
    /// (`w0` oldest).
    #[inline(always)]
    unsafe fn schedule(w0: __m128i, w1: __m128i, w2: __m128i, w3: __m128i) -> __m128i {
        let sigma0_added = _mm_sha256msg1_epu32(w0, w1);
        let w9_to_w12 = _mm_alignr_epi8(w3, w2, 4);
        _mm_sha256msg2_epu32(_mm_add_epi32(sigma0_added, w9_to_w12), w3)
    }

    /// [`super::compress_from_iv`] with the SHA instructions, the four
    /// compressions' rounds interleaved. The state is kept as the
    /// instructions want it: (a, b, e, f) and (c, d, g, h).
    ///
    /// # Safety
    /// The processor must have what [`available`] checks.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub(super) unsafe fn interleaved(blocks: &[[u8; 64]; WAYS]) -> [[u32; 8]; WAYS] {
        // Big-endian message words.
        let byte_swap = _mm_set_epi64x(0x0C0D_0E0F_0809_0A0B, 0x0405_0607_0001_0203);
        let dcba = _mm_loadu_si128(SHA256_IV.as_ptr().cast());
        let hgfe = _mm_loadu_si128(SHA256_IV.as_ptr().add(4).cast());
        let cdab = _mm_shuffle_epi32(dcba, 0xB1);
        let efgh = _mm_shuffle_epi32(hgfe, 0x1B);
        let abef_iv = _mm_alignr_epi8(cdab, efgh, 8);
        let cdgh_iv = _mm_blend_epi16(efgh, cdab, 0xF0);
        let mut abef = [abef_iv; WAYS];
        let mut cdgh = [cdgh_iv; WAYS];
        // The last sixteen message words of each block, four to a vector,
        // in a ring: group `r` is at `r % 4`.
        let mut words = [[_mm_setzero_si128(); 4]; WAYS];
        for (ring, block) in words.iter_mut().zip(blocks) {
            for (i, word) in ring.iter_mut().enumerate() {
                let bytes = _mm_loadu_si128(block.as_ptr().add(16 * i).cast());
                *word = _mm_shuffle_epi8(bytes, byte_swap);
            }
        }
        for group in 0..16 {
            let k = _mm_loadu_si128(K.as_ptr().add(4 * group).cast());
            for way in 0..WAYS {
                let ring = &mut words[way];
                let w = if group < 4 {
                    ring[group]
                } else {
                    let next = schedule(
                        ring[group % 4],
                        ring[(group + 1) % 4],
                        ring[(group + 2) % 4],
                        ring[(group + 3) % 4],
                    );
                    ring[group % 4] = next;
                    next
                };
                let wk = _mm_add_epi32(w, k);
                cdgh[way] = _mm_sha256rnds2_epu32(cdgh[way], abef[way], wk);
                abef[way] =
                    _mm_sha256rnds2_epu32(abef[way], cdgh[way], _mm_shuffle_epi32(wk, 0x0E));
            }
        }
        let mut out = [[0u32; 8]; WAYS];
        for (way, state) in out.iter_mut().enumerate() {
            let abef = _mm_add_epi32(abef[way], abef_iv);
            let cdgh = _mm_add_epi32(cdgh[way], cdgh_iv);
            let feba = _mm_shuffle_epi32(abef, 0x1B);
            let dchg = _mm_shuffle_epi32(cdgh, 0xB1);
            _mm_storeu_si128(state.as_mut_ptr().cast(), _mm_blend_epi16(feba, dchg, 0xF0));
            _mm_storeu_si128(
                state.as_mut_ptr().add(4).cast(),
                _mm_alignr_epi8(dchg, feba, 8),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn agrees_with_sha2(bytes in proptest::collection::vec(any::<u8>(), 64 * WAYS)) {
            let mut blocks = [[0u8; 64]; WAYS];
            for (block, chunk) in blocks.iter_mut().zip(bytes.chunks_exact(64)) {
                block.copy_from_slice(chunk);
            }
            prop_assert_eq!(compress_from_iv(&blocks), one_by_one(&blocks));
        }
    }

    /// SHA-256 of "abc" (FIPS 180-4 example): one padded block.
    #[test]
    fn the_standard_example() {
        let mut block = [0u8; 64];
        block[..3].copy_from_slice(b"abc");
        block[3] = 0x80;
        block[63] = 24;
        let states = compress_from_iv(&[block; WAYS]);
        let expected = [
            0xba7816bf, 0x8f01cfea, 0x414140de, 0x5dae2223, 0xb00361a3, 0x96177a9c, 0xb410ff61,
            0xf20015ad,
        ];
        assert_eq!(states, [expected; WAYS]);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn this_machine_uses_the_interleaved_path_when_it_can() {
        if !shani::available() {
            eprintln!("no SHA extensions here: only the fallback is tested");
            return;
        }
        let blocks: [[u8; 64]; WAYS] = std::array::from_fn(|way| [way as u8 + 1; 64]);
        // SAFETY: checked just above.
        let interleaved = unsafe { shani::interleaved(&blocks) };
        assert_eq!(interleaved, one_by_one(&blocks));
    }
}
