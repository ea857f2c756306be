//! Messages: a small header and `fields` separately heap-allocated fields, the
//! pattern their bytes follow, and the receiver's check of both.
//!
//! A field's content is a function of (slot, generation, field index): the
//! slot is the message's place in its sender's pool, the generation changes
//! only when a test asks for fields to be refilled each time a slot is reused.
//! The header carries the sequence number, the slot and the generation, so the
//! receiver can tell a lost, reordered, truncated or corrupted message, and a
//! buffer that was rewritten while the kernel still read it.

use std::io::IoSlice;

/// Bytes of the header that precedes the fields on the wire.
pub const HEADER_LEN: usize = 32;
/// "CBR1", little-endian.
const MAGIC: u32 = 0x3152_4243;
/// Header flag: the last message of a batch; the receiver reports after it.
pub const FLAG_BATCH_END: u32 = 1;

/// Smallest and largest `--field-size`.
pub const MIN_FIELD_SIZE: usize = 1;
pub const MAX_FIELD_SIZE: usize = 64 << 20;
/// At most this many fields: with the header they fill one `sendmsg` (IOV_MAX = 1024).
pub const MAX_FIELDS: usize = 1023;
/// A whole message (header + fields) may take at most this much memory.
pub const MAX_MESSAGE_BYTES: usize = 1 << 30;

/// The shape every message of a run has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shape {
    pub fields: usize,
    pub field_size: usize,
}

impl Shape {
    /// Bytes on the wire per message, header included.
    pub fn message_bytes(&self) -> usize {
        HEADER_LEN + self.fields * self.field_size
    }
}

/// The header as it travels, little-endian:
/// magic u32 | flags u32 | seq u64 | slot u32 | generation u32 | fields u32 | field_size u32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub flags: u32,
    pub seq: u64,
    pub slot: u32,
    pub generation: u32,
    pub fields: u32,
    pub field_size: u32,
}

impl Header {
    pub fn encode(&self, out: &mut [u8; HEADER_LEN]) {
        out[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        out[4..8].copy_from_slice(&self.flags.to_le_bytes());
        out[8..16].copy_from_slice(&self.seq.to_le_bytes());
        out[16..20].copy_from_slice(&self.slot.to_le_bytes());
        out[20..24].copy_from_slice(&self.generation.to_le_bytes());
        out[24..28].copy_from_slice(&self.fields.to_le_bytes());
        out[28..32].copy_from_slice(&self.field_size.to_le_bytes());
    }

    pub fn decode(buf: &[u8]) -> Result<Header, VerifyError> {
        let buf: &[u8; HEADER_LEN] = buf
            .get(..HEADER_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or(VerifyError::Truncated { len: buf.len() })?;
        let u32_at = |i: usize| u32::from_le_bytes(buf[i..i + 4].try_into().unwrap());
        let magic = u32_at(0);
        if magic != MAGIC {
            return Err(VerifyError::BadMagic { found: magic });
        }
        Ok(Header {
            flags: u32_at(4),
            seq: u64::from_le_bytes(buf[8..16].try_into().unwrap()),
            slot: u32_at(16),
            generation: u32_at(20),
            fields: u32_at(24),
            field_size: u32_at(28),
        })
    }
}

/// What the receiver found wrong with a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("message truncated: {len} bytes, shorter than a header")]
    Truncated { len: usize },
    #[error("bad magic {found:#010x}: the stream lost its framing")]
    BadMagic { found: u32 },
    #[error("expected sequence {expected}, got {found}: a message was lost or reordered")]
    Sequence { expected: u64, found: u64 },
    #[error(
        "header says {fields} x {field_size} B fields, the run uses {want_fields} x {want_size} B"
    )]
    Shape {
        fields: u32,
        field_size: u32,
        want_fields: usize,
        want_size: usize,
    },
    #[error("message {seq}: field {field} differs from its pattern at byte {offset} (slot {slot}, generation {generation}): corrupted, or its buffer was rewritten before the kernel finished with it")]
    Content {
        seq: u64,
        slot: u32,
        generation: u32,
        field: usize,
        offset: usize,
    },
}

/// How much of each message's content the receiver checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verify {
    /// Header of every message; first and last 8 bytes of every field; every
    /// byte of one message in [`SAMPLE_EVERY`].
    #[default]
    Sampled,
    /// Every byte of every message.
    Full,
}

/// With [`Verify::Sampled`], messages whose sequence is a multiple of this are checked in full.
pub const SAMPLE_EVERY: u64 = 64;

fn seed(slot: u32, generation: u32, field: usize) -> u64 {
    // splitmix64 finaliser: nearby (slot, generation, field) give unrelated seeds.
    let mut z = ((slot as u64) << 40) ^ ((generation as u64) << 16) ^ field as u64;
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const STEP: u64 = 0xD1B5_4A32_D192_ED03;

/// Fills `buf` with the pattern of (slot, generation, field).
pub fn fill_field(buf: &mut [u8], slot: u32, generation: u32, field: usize) {
    let mut word = seed(slot, generation, field);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        chunk.copy_from_slice(&word.to_le_bytes());
        word = word.wrapping_add(STEP);
    }
    let rest = chunks.into_remainder();
    let n = rest.len();
    rest.copy_from_slice(&word.to_le_bytes()[..n]);
}

/// Checks every byte of `buf` against the pattern; returns the first bad offset.
pub fn check_field(buf: &[u8], slot: u32, generation: u32, field: usize) -> Result<(), usize> {
    let seed = seed(slot, generation, field);
    // One pass that ORs the differences, with no branch per word (so it
    // vectorises); the offset is looked for only when something differs.
    let mut word = seed;
    let mut diff = 0u64;
    let mut chunks = buf.chunks_exact(8);
    for chunk in &mut chunks {
        diff |= u64::from_le_bytes(chunk.try_into().unwrap()) ^ word;
        word = word.wrapping_add(STEP);
    }
    let rest = chunks.remainder();
    if diff == 0 && rest.iter().zip(word.to_le_bytes()).all(|(a, b)| *a == b) {
        return Ok(());
    }
    Err(first_difference(buf, seed))
}

/// The offset of the first byte of `buf` that differs from the pattern that
/// starts from `seed` (`buf.len()` when none does).
fn first_difference(buf: &[u8], seed: u64) -> usize {
    let mut word = seed;
    for (i, chunk) in buf.chunks(8).enumerate() {
        if let Some(j) = chunk
            .iter()
            .zip(word.to_le_bytes())
            .position(|(a, b)| *a != b)
        {
            return i * 8 + j;
        }
        word = word.wrapping_add(STEP);
    }
    buf.len()
}

/// Checks the first and last 8 bytes of a field only. It runs on every
/// message in sampled mode, so it compares whole spans, not byte by byte.
fn check_field_ends(buf: &[u8], slot: u32, generation: u32, field: usize) -> Result<(), usize> {
    let seed = seed(slot, generation, field);
    let n = buf.len();
    check_span(&buf[..n.min(8)], seed, 0)?;
    let tail = n.saturating_sub(8);
    check_span(&buf[tail..], seed, tail)
}

/// Checks `span` (at most 8 bytes, found at `start` of its field) against the
/// pattern from `seed`; returns the first bad offset within the field.
fn check_span(span: &[u8], seed: u64, start: usize) -> Result<(), usize> {
    let first = seed.wrapping_add(STEP.wrapping_mul((start / 8) as u64));
    let words = u128::from(first) | u128::from(first.wrapping_add(STEP)) << 64;
    let expected = ((words >> (8 * (start % 8))) as u64).to_le_bytes();
    let expected = &expected[..span.len()];
    let same = match <[u8; 8]>::try_from(span) {
        Ok(word) => u64::from_ne_bytes(word) == u64::from_ne_bytes(expected.try_into().unwrap()),
        Err(_) => span == expected,
    };
    if same {
        return Ok(());
    }
    let bad = span.iter().zip(expected).position(|(a, b)| a != b);
    Err(start + bad.unwrap_or(0))
}

/// A message the sender owns: a header buffer and separately allocated fields.
///
/// The buffers are heap allocations that never move once made, so a message
/// can be handed to the kernel by reference (`MSG_ZEROCOPY`) while the
/// `Message` value itself is moved around.
pub(crate) struct Message {
    header: Box<[u8; HEADER_LEN]>,
    fields: Vec<Box<[u8]>>,
    slot: u32,
    generation: u32,
}

impl Message {
    /// A message for pool slot `slot`, fields filled with generation 0.
    pub fn new(shape: Shape, slot: u32) -> Message {
        let fields = (0..shape.fields)
            .map(|f| {
                let mut buf = vec![0u8; shape.field_size].into_boxed_slice();
                fill_field(&mut buf, slot, 0, f);
                buf
            })
            .collect();
        Message {
            header: Box::new([0; HEADER_LEN]),
            fields,
            slot,
            generation: 0,
        }
    }

    /// Flips one bit of the last byte of the last field. Test-only: what a
    /// corruption on the way looks like to the receiver.
    pub fn damage(&mut self) {
        if let Some(byte) = self.fields.last_mut().and_then(|f| f.last_mut()) {
            *byte ^= 0x01;
        }
    }

    /// Rewrites every field with the pattern of a new generation. Test-only
    /// pressure: it makes a buffer reused too early show up as corruption.
    pub fn refill(&mut self, generation: u32) {
        self.generation = generation;
        for (f, buf) in self.fields.iter_mut().enumerate() {
            fill_field(buf, self.slot, generation, f);
        }
    }

    /// Writes the header for the next send of this message.
    pub fn stamp(&mut self, seq: u64, flags: u32) {
        let header = Header {
            flags,
            seq,
            slot: self.slot,
            generation: self.generation,
            fields: self.fields.len() as u32,
            field_size: self.fields.first().map_or(0, |f| f.len()) as u32,
        };
        header.encode(&mut self.header);
    }

    /// Calls `f` with one `IoSlice` per piece (header, then each field),
    /// without allocating for up to 32 fields. It runs once per send, so the
    /// usual shapes (up to 8 fields) get a small array to set up.
    pub fn with_io_slices<'a, R>(&'a self, f: impl FnOnce(&mut [IoSlice<'a>]) -> R) -> R {
        const SMALL: usize = 9;
        const STACK: usize = 33;
        let pieces = 1 + self.fields.len();
        let fill = |slices: &mut [IoSlice<'a>]| {
            slices[0] = IoSlice::new(&self.header[..]);
            for (s, field) in slices[1..].iter_mut().zip(&self.fields) {
                *s = IoSlice::new(field);
            }
        };
        if pieces <= SMALL {
            let mut slices = [IoSlice::new(&[]); SMALL];
            fill(&mut slices[..pieces]);
            f(&mut slices[..pieces])
        } else if pieces <= STACK {
            let mut slices = [IoSlice::new(&[]); STACK];
            fill(&mut slices[..pieces]);
            f(&mut slices[..pieces])
        } else {
            let mut slices = vec![IoSlice::new(&[]); pieces];
            fill(&mut slices);
            f(&mut slices)
        }
    }

    /// Serializes header + fields into `out` (the two-copy strategy's user-space copy).
    pub fn serialize_into(&self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.header[..]);
        for field in &self.fields {
            out.extend_from_slice(field);
        }
    }
}

/// The receiver's check of each arriving message, in order.
pub(crate) struct Verifier {
    shape: Shape,
    mode: Verify,
    next_seq: u64,
}

impl Verifier {
    pub fn new(shape: Shape, mode: Verify) -> Verifier {
        Verifier {
            shape,
            mode,
            next_seq: 0,
        }
    }

    /// Checks one whole message (exactly `shape.message_bytes()` bytes) and
    /// returns its header.
    pub fn check(&mut self, msg: &[u8]) -> Result<Header, VerifyError> {
        let h = Header::decode(msg)?;
        if h.seq != self.next_seq {
            return Err(VerifyError::Sequence {
                expected: self.next_seq,
                found: h.seq,
            });
        }
        if h.fields as usize != self.shape.fields || h.field_size as usize != self.shape.field_size
        {
            return Err(VerifyError::Shape {
                fields: h.fields,
                field_size: h.field_size,
                want_fields: self.shape.fields,
                want_size: self.shape.field_size,
            });
        }
        let full = self.mode == Verify::Full || h.seq % SAMPLE_EVERY == 0;
        let body = &msg[HEADER_LEN..self.shape.message_bytes()];
        for (f, field) in body.chunks_exact(self.shape.field_size).enumerate() {
            let res = if full {
                check_field(field, h.slot, h.generation, f)
            } else {
                check_field_ends(field, h.slot, h.generation, f)
            };
            res.map_err(|offset| VerifyError::Content {
                seq: h.seq,
                slot: h.slot,
                generation: h.generation,
                field: f,
                offset,
            })?;
        }
        self.next_seq += 1;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(msg: &Message) -> Vec<u8> {
        let mut out = Vec::new();
        msg.serialize_into(&mut out);
        out
    }

    const SHAPE: Shape = Shape {
        fields: 3,
        field_size: 13,
    };

    #[test]
    fn header_round_trips() {
        let h = Header {
            flags: 1,
            seq: u64::MAX - 3,
            slot: 7,
            generation: 9,
            fields: 8,
            field_size: 4096,
        };
        let mut buf = [0u8; HEADER_LEN];
        h.encode(&mut buf);
        assert_eq!(Header::decode(&buf).unwrap(), h);
        assert!(matches!(
            Header::decode(&buf[..10]),
            Err(VerifyError::Truncated { len: 10 })
        ));
    }

    #[test]
    fn field_ends_agree_with_fill_at_every_length_and_offset() {
        for len in 1..=40 {
            let mut buf = vec![0u8; len];
            fill_field(&mut buf, 3, 2, 1);
            assert_eq!(check_field(&buf, 3, 2, 1), Ok(()));
            assert_eq!(check_field_ends(&buf, 3, 2, 1), Ok(()), "len {len}");
            assert!(check_field(&buf, 3, 3, 1).is_err());
            assert!(check_field_ends(&buf, 3, 3, 1).is_err());
            for at in 0..len {
                buf[at] ^= 0x10;
                let seen = at < 8 || at >= len.saturating_sub(8);
                let want = if seen { Err(at) } else { Ok(()) };
                assert_eq!(
                    check_field_ends(&buf, 3, 2, 1),
                    want,
                    "len {len}, byte {at}"
                );
                assert_eq!(check_field(&buf, 3, 2, 1), Err(at));
                buf[at] ^= 0x10;
            }
        }
    }

    #[test]
    fn a_flipped_byte_is_found_where_it_is() {
        let mut m = Message::new(SHAPE, 2);
        m.stamp(0, 0);
        let mut w = wire(&m);
        w[HEADER_LEN + 13 + 6] ^= 0x40;
        let err = Verifier::new(SHAPE, Verify::Full).check(&w).unwrap_err();
        assert_eq!(
            err,
            VerifyError::Content {
                seq: 0,
                slot: 2,
                generation: 0,
                field: 1,
                offset: 6
            }
        );
    }

    #[test]
    fn sampled_mode_checks_field_ends_of_every_message() {
        let mut v = Verifier::new(SHAPE, Verify::Sampled);
        let mut m = Message::new(SHAPE, 0);
        m.stamp(0, 0);
        v.check(&wire(&m)).unwrap();
        m.stamp(1, 0);
        let mut w = wire(&m);
        *w.last_mut().unwrap() ^= 1;
        assert!(matches!(
            v.check(&w),
            Err(VerifyError::Content {
                field: 2,
                offset: 12,
                ..
            })
        ));
    }

    #[test]
    fn lost_and_reordered_messages_are_caught() {
        let mut v = Verifier::new(SHAPE, Verify::Full);
        let mut m = Message::new(SHAPE, 0);
        m.stamp(1, 0);
        assert_eq!(
            v.check(&wire(&m)),
            Err(VerifyError::Sequence {
                expected: 0,
                found: 1
            })
        );
    }

    #[test]
    fn a_refilled_slot_no_longer_matches_its_old_generation() {
        let mut m = Message::new(SHAPE, 1);
        m.stamp(0, 0);
        let old = wire(&m);
        m.refill(1);
        m.stamp(0, 0);
        let mut mixed = wire(&m);
        // The header of the old send with the bytes of the new generation:
        // what a receiver sees when a buffer is rewritten before completion.
        mixed[..HEADER_LEN].copy_from_slice(&old[..HEADER_LEN]);
        assert!(Verifier::new(SHAPE, Verify::Full).check(&mixed).is_err());
    }

    #[test]
    fn io_slices_cover_header_and_fields_in_order() {
        for fields in [1, 8, 9, 32, 33, 40] {
            let shape = Shape {
                fields,
                field_size: 5,
            };
            let mut m = Message::new(shape, 0);
            m.stamp(4, 0);
            let gathered: Vec<u8> =
                m.with_io_slices(|s| s.iter().flat_map(|s| s.to_vec()).collect());
            assert_eq!(gathered, wire(&m));
            assert_eq!(gathered.len(), shape.message_bytes());
        }
    }
}
