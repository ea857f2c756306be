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

use crate::model::kinds::{Layout, StrategyKind, WorkloadKind};

/// Bytes of the header that precedes the fields on the wire.
pub const HEADER_LEN: usize = 32;
/// "CBR1", little-endian.
const MAGIC: u32 = 0x3152_4243;
/// Header flag: the last message of a batch; the receiver reports after it.
pub const FLAG_BATCH_END: u32 = 1;
/// Header flags, bits 8 to 15: which of a block's arms sent the message,
/// when the arms share the connection (an index into the strategies the
/// connection's senders hold). An rr server answers with the same arm.
const ARM_SHIFT: u32 = 8;
/// The largest arm index the header carries.
pub const MAX_ARM: usize = 0xff;

/// The header flags that name arm `arm` (at most [`MAX_ARM`]).
pub fn arm_flags(arm: usize) -> u32 {
    debug_assert!(arm <= MAX_ARM);
    ((arm & MAX_ARM) as u32) << ARM_SHIFT
}

/// The arm a message's header flags name.
pub fn arm_of(flags: u32) -> usize {
    (flags >> ARM_SHIFT) as usize & MAX_ARM
}

/// Header flags, bits 16 to 31: how many more messages of its batch the
/// sender will send after this one whatever happens (a counted batch's rest;
/// a timed batch's messages up to its next deadline check). A receiver may
/// wait for those bytes without waiting for any that never come
/// (`engine::recv`, its low mark). 0 promises nothing.
const PROMISE_SHIFT: u32 = 16;
/// The most messages a header promises; a longer rest is promised in part.
pub const MAX_PROMISE: u64 = 0xffff;

/// Whether a sender of `strategy` promises its batch's messages ahead
/// (`promise_flags`). Only a stream's copying senders do: rr's next request
/// waits for this one's answer, and a zero-copy sender may stop to wait for
/// completions, which come with the receiver's ACKs, so a receiver waiting
/// for promised bytes would wait on it in turn (Nagle holds a
/// fragment-bound segment until the delayed ACK).
pub fn sender_promises(workload: WorkloadKind, strategy: StrategyKind) -> bool {
    workload == WorkloadKind::Stream && !strategy.has_completions()
}

/// The header flags that promise `more` messages after this one (at most
/// [`MAX_PROMISE`] of them).
pub fn promise_flags(more: u64) -> u32 {
    (more.min(MAX_PROMISE) as u32) << PROMISE_SHIFT
}

/// The messages a header promises after its own, read from the start of a
/// message (`bytes` holds at least its magic and flags); `None` before
/// those 8 bytes have arrived or when the magic is wrong (the check of the
/// whole message then says what is wrong).
pub fn promise_in_header(bytes: &[u8]) -> Option<u64> {
    let magic = u32::from_le_bytes(bytes.get(0..4)?.try_into().ok()?);
    let flags = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
    (magic == MAGIC).then_some(u64::from(flags >> PROMISE_SHIFT))
}

/// Largest `--field-size` (the smallest is 1 B).
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
    #[error("message {seq}: the header names slot {slot}, generation {generation}; the sender's pool puts it in slot {want_slot}, generation {want_generation}")]
    Origin {
        seq: u64,
        slot: u32,
        generation: u32,
        want_slot: u32,
        want_generation: u32,
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

impl VerifyError {
    /// Field `field` of the message with header `h` differs from its
    /// pattern at byte `offset`: the one place both checks (whole message,
    /// piece by piece) say so.
    fn content(h: &Header, field: usize, offset: usize) -> VerifyError {
        VerifyError::Content {
            seq: h.seq,
            slot: h.slot,
            generation: h.generation,
            field,
            offset,
        }
    }
}

/// How much of each message's content the receiver checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verify {
    /// Header of every message; first and last 8 bytes of every field; every
    /// byte of one message in [`SAMPLE_EVERY`], the pool slots taken in turn.
    #[default]
    Sampled,
    /// Every byte of every message.
    Full,
}

/// With [`Verify::Sampled`], one message in this many is checked in full.
pub const SAMPLE_EVERY: u64 = 64;

/// What the receiver knows of the sender's pool: the sender sends message
/// `seq` from slot `seq % slots`, and when a test asks for refills, with
/// generation `seq / slots`. Every header is checked against this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolPlan {
    pub slots: usize,
    /// Slots are refilled with a new generation each time round the pool.
    pub refill: bool,
}

impl PoolPlan {
    pub fn new(slots: usize, refill: bool) -> PoolPlan {
        PoolPlan {
            slots: slots.max(1),
            refill,
        }
    }

    pub fn slot(&self, seq: u64) -> u32 {
        (seq % self.slots as u64) as u32
    }

    /// The generation message `seq` carries; `u32` wraps the same way on both ends.
    pub fn generation(&self, seq: u64) -> u32 {
        if self.refill {
            (seq / self.slots as u64) as u32
        } else {
            0
        }
    }
}

/// Which messages a sampled verifier checks in full: about one in
/// [`SAMPLE_EVERY`], and the `k`-th of them comes from slot `k % slots`, so
/// every slot's middle bytes are read in turn whatever the pool size (a plain
/// `seq % 64 == 0` lands on slot 0 alone whenever the pool size divides 64).
#[derive(Debug, Clone)]
struct FullChecks {
    slots: u64,
    /// Full checks made so far.
    k: u64,
    /// Sequence number of the next message to check in full.
    next: u64,
}

impl FullChecks {
    fn new(slots: usize) -> FullChecks {
        FullChecks {
            slots: slots.max(1) as u64,
            k: 0,
            next: 0,
        }
    }

    /// Whether message `seq` (the messages arrive in order) is checked in full.
    fn due(&mut self, seq: u64) -> bool {
        if seq != self.next {
            return false;
        }
        self.k += 1;
        // The first message from slot `k % slots` at or after the k-th block of SAMPLE_EVERY.
        let from = (SAMPLE_EVERY * self.k).max(seq + 1);
        let want = self.k % self.slots;
        self.next = from + (want + self.slots - from % self.slots) % self.slots;
        true
    }
}

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

/// Checks `buf`, found at byte `start` of its field, against the pattern of
/// (slot, generation, field); returns the first bad offset within the field.
/// The piecewise twin of [`check_field`], for a field that arrives in pieces.
pub fn check_field_at(
    buf: &[u8],
    slot: u32,
    generation: u32,
    field: usize,
    start: usize,
) -> Result<(), usize> {
    let seed = seed(slot, generation, field);
    // The head up to the next 8-byte boundary of the field, then whole words.
    let head = ((8 - start % 8) % 8).min(buf.len());
    check_span(&buf[..head], seed, start)?;
    let at = start + head;
    let body = &buf[head..];
    let mut word = seed.wrapping_add(STEP.wrapping_mul((at / 8) as u64));
    let mut diff = 0u64;
    let mut chunks = body.chunks_exact(8);
    for chunk in &mut chunks {
        diff |= u64::from_le_bytes(chunk.try_into().unwrap()) ^ word;
        word = word.wrapping_add(STEP);
    }
    if diff != 0 {
        let first = seed.wrapping_add(STEP.wrapping_mul((at / 8) as u64));
        return Err(at + first_difference(body, first));
    }
    let rest = chunks.remainder();
    check_span(rest, seed, at + body.len() - rest.len())
}

/// The size of a memory page, which is what a zero-copy fragment covers at most.
pub fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(crate::sys::page_size)
}

/// Pages `buf` touches: the fragments the kernel makes of it when it pins it.
pub fn pages_spanned(buf: &[u8]) -> usize {
    if buf.is_empty() {
        return 0;
    }
    let page = page_size();
    let start = buf.as_ptr() as usize;
    (start + buf.len() - 1) / page - start / page + 1
}

/// A message the sender owns: a header and its fields, laid out as a [`Layout`] says.
///
/// The buffers are heap allocations that never move once made, so a message
/// can be handed to the kernel by reference (`MSG_ZEROCOPY`) while the
/// `Message` value itself is moved around.
pub(crate) struct Message {
    /// Heap: the header's allocation, then one per field. Page: one for all.
    store: Vec<Box<[u8]>>,
    /// (allocation, offset) of the header, then of each field.
    pieces: Vec<(usize, usize)>,
    field_size: usize,
    slot: u32,
    generation: u32,
}

impl Message {
    /// A heap-laid-out message for pool slot `slot`, fields filled with generation 0.
    #[cfg(test)]
    pub fn new(shape: Shape, slot: u32) -> Message {
        Message::with_layout(shape, slot, Layout::Heap)
    }

    /// A message for pool slot `slot` laid out as `layout`, fields filled with generation 0.
    pub fn with_layout(shape: Shape, slot: u32, layout: Layout) -> Message {
        let (store, pieces) = match layout {
            Layout::Heap => {
                let mut store = vec![vec![0u8; HEADER_LEN].into_boxed_slice()];
                store.extend(
                    (0..shape.fields).map(|_| vec![0u8; shape.field_size].into_boxed_slice()),
                );
                let pieces = (0..store.len()).map(|i| (i, 0)).collect();
                (store, pieces)
            }
            Layout::Page => {
                let page = page_size();
                let field_span = shape.field_size.div_ceil(page) * page;
                // One spare page to find a page boundary in; the allocation never moves.
                let buf = vec![0u8; page + page + shape.fields * field_span].into_boxed_slice();
                let base = buf.as_ptr().align_offset(page);
                let mut pieces = vec![(0, base + page - HEADER_LEN)];
                pieces.extend((0..shape.fields).map(|f| (0, base + page + f * field_span)));
                (vec![buf], pieces)
            }
        };
        let mut msg = Message {
            store,
            pieces,
            field_size: shape.field_size,
            slot,
            generation: 0,
        };
        msg.refill(0);
        msg
    }

    fn piece(&self, i: usize, len: usize) -> &[u8] {
        let (b, at) = self.pieces[i];
        &self.store[b][at..at + len]
    }

    fn piece_mut(&mut self, i: usize, len: usize) -> &mut [u8] {
        let (b, at) = self.pieces[i];
        &mut self.store[b][at..at + len]
    }

    fn field_count(&self) -> usize {
        self.pieces.len() - 1
    }

    fn field_mut(&mut self, f: usize) -> &mut [u8] {
        let len = self.field_size;
        self.piece_mut(1 + f, len)
    }

    /// Flips one bit of the last byte of the last field. Test-only: what a
    /// corruption on the way looks like to the receiver.
    pub fn damage(&mut self) {
        if let Some(f) = self.field_count().checked_sub(1) {
            if let Some(byte) = self.field_mut(f).last_mut() {
                *byte ^= 0x01;
            }
        }
    }

    /// Flips one bit of the middle byte of the first field, where sampled
    /// verification looks only when it checks the message in full. Test-only.
    pub fn damage_middle(&mut self) {
        if self.field_count() > 0 {
            let field = self.field_mut(0);
            let mid = field.len() / 2;
            field[mid] ^= 0x04;
        }
    }

    /// Rewrites every field with the pattern of a new generation. Test-only
    /// pressure: it makes a buffer reused too early show up as corruption.
    pub fn refill(&mut self, generation: u32) {
        self.generation = generation;
        let slot = self.slot;
        for f in 0..self.field_count() {
            fill_field(self.field_mut(f), slot, generation, f);
        }
    }

    /// Writes the header for the next send of this message.
    pub fn stamp(&mut self, seq: u64, flags: u32) {
        let header = Header {
            flags,
            seq,
            slot: self.slot,
            generation: self.generation,
            fields: self.field_count() as u32,
            field_size: self.field_size as u32,
        };
        let out: &mut [u8; HEADER_LEN] = self
            .piece_mut(0, HEADER_LEN)
            .try_into()
            .expect("the header piece is HEADER_LEN long");
        header.encode(out);
    }

    pub fn header_bytes(&self) -> &[u8] {
        self.piece(0, HEADER_LEN)
    }

    pub fn fields(&self) -> impl Iterator<Item = &[u8]> {
        (1..self.pieces.len()).map(|i| self.piece(i, self.field_size))
    }

    /// Pages its iovecs touch: the fragments one zero-copy send of it pins.
    pub fn pages(&self) -> usize {
        pages_spanned(self.header_bytes()) + self.fields().map(pages_spanned).sum::<usize>()
    }

    /// Calls `f` with one `IoSlice` per piece (header, then each field),
    /// without allocating for up to 32 fields. It runs once per send, so the
    /// usual shapes (up to 8 fields) get a small array to set up.
    pub fn with_io_slices<'a, R>(&'a self, f: impl FnOnce(&mut [IoSlice<'a>]) -> R) -> R {
        const SMALL: usize = 9;
        const STACK: usize = 33;
        let pieces = self.pieces.len();
        let fill = |slices: &mut [IoSlice<'a>]| {
            slices[0] = IoSlice::new(self.header_bytes());
            for (s, field) in slices[1..].iter_mut().zip(self.fields()) {
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
        out.extend_from_slice(self.header_bytes());
        for field in self.fields() {
            out.extend_from_slice(field);
        }
    }
}

/// A message whose header [`Verifier::begin`] checked, its body still to come.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    pub header: Header,
    /// Whether every byte of the body is checked (else the ends of each field).
    pub full: bool,
}

/// The receiver's check of each arriving message, in order.
pub(crate) struct Verifier {
    shape: Shape,
    mode: Verify,
    pool: PoolPlan,
    full: FullChecks,
    next_seq: u64,
    /// `pool.slot(next_seq)` and `pool.generation(next_seq)`, kept in step
    /// rather than divided out for every message (rr checks one per send).
    next_slot: u32,
    next_generation: u32,
}

impl Verifier {
    /// A check of messages of `shape` sent from a pool laid out as `pool`.
    pub fn new(shape: Shape, mode: Verify, pool: PoolPlan) -> Verifier {
        Verifier {
            shape,
            mode,
            pool,
            full: FullChecks::new(pool.slots),
            next_seq: 0,
            next_slot: 0,
            next_generation: 0,
        }
    }

    /// The piecewise check, for a receiver that sees a message in pieces
    /// (pages mapped by `TCP_ZEROCOPY_RECEIVE`, bytes it had to `recv`):
    /// checks the header as [`Verifier::check`] does and says how the body
    /// is to be checked. Then [`Verifier::check_piece`] for each piece of the
    /// body, in any order; together they check exactly what `check` does.
    pub fn begin(&mut self, header: &[u8]) -> Result<Pending, VerifyError> {
        let h = self.check_header(header)?;
        let full = self.full.due(h.seq) || self.mode == Verify::Full;
        self.advance();
        Ok(Pending { header: h, full })
    }

    /// Checks `piece`, the body bytes (after the header) from `at` on of the
    /// message `p` began.
    pub fn check_piece(&self, p: &Pending, at: usize, piece: &[u8]) -> Result<(), VerifyError> {
        let fs = self.shape.field_size;
        let h = &p.header;
        let (mut at, mut piece) = (at, piece);
        while !piece.is_empty() {
            let f = at / fs;
            let off = at % fs;
            let n = (fs - off).min(piece.len());
            let part = &piece[..n];
            let res = if p.full {
                check_field_at(part, h.slot, h.generation, f, off)
            } else {
                // Only the first and last 8 bytes of each field.
                let head = off..(off + n).min(8);
                let tail = off.max(fs.saturating_sub(8))..off + n;
                let seed = seed(h.slot, h.generation, f);
                let mut r = Ok(());
                for range in [head, tail] {
                    if range.start < range.end {
                        let span = &part[range.start - off..range.end - off];
                        r = r.and_then(|()| check_span(span, seed, range.start));
                    }
                }
                r
            };
            res.map_err(|offset| VerifyError::content(h, f, offset))?;
            at += n;
            piece = &piece[n..];
        }
        Ok(())
    }

    #[inline]
    fn check_header(&self, msg: &[u8]) -> Result<Header, VerifyError> {
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
        let (want_slot, want_generation) = (self.next_slot, self.next_generation);
        if (h.slot, h.generation) != (want_slot, want_generation) {
            return Err(VerifyError::Origin {
                seq: h.seq,
                slot: h.slot,
                generation: h.generation,
                want_slot,
                want_generation,
            });
        }
        Ok(h)
    }

    /// Expects the next message: the next sequence number and pool slot,
    /// and a new generation each time the pool wraps (`generation` is a u32
    /// and wraps too).
    #[inline]
    fn advance(&mut self) {
        self.next_seq += 1;
        self.next_slot += 1;
        if self.next_slot as usize == self.pool.slots {
            self.next_slot = 0;
            self.next_generation = self
                .next_generation
                .wrapping_add(u32::from(self.pool.refill));
        }
    }

    /// Checks one whole message (exactly `shape.message_bytes()` bytes) and
    /// returns its header.
    pub fn check(&mut self, msg: &[u8]) -> Result<Header, VerifyError> {
        let h = self.check_header(msg)?;
        // h.seq == next_seq here, so the expected origin is the pool's.
        debug_assert_eq!(
            (self.next_slot, self.next_generation),
            (self.pool.slot(h.seq), self.pool.generation(h.seq))
        );
        // `due` is asked for every message, so its schedule stays in step.
        let full = self.full.due(h.seq) || self.mode == Verify::Full;
        let body = &msg[HEADER_LEN..self.shape.message_bytes()];
        for (f, field) in body.chunks_exact(self.shape.field_size).enumerate() {
            let res = if full {
                check_field(field, h.slot, h.generation, f)
            } else {
                check_field_ends(field, h.slot, h.generation, f)
            };
            res.map_err(|offset| VerifyError::content(&h, f, offset))?;
        }
        self.advance();
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
    fn a_header_carries_its_promise_beside_the_arm_and_batch_end() {
        let h = Header {
            flags: FLAG_BATCH_END | arm_flags(3) | promise_flags(1000),
            seq: 1,
            slot: 0,
            generation: 0,
            fields: 1,
            field_size: 8,
        };
        let mut buf = [0u8; HEADER_LEN];
        h.encode(&mut buf);
        assert_eq!(promise_in_header(&buf), Some(1000));
        assert_eq!(arm_of(Header::decode(&buf).unwrap().flags), 3);
        // Read from the first 8 bytes, as soon as they have arrived.
        assert_eq!(promise_in_header(&buf[..8]), Some(1000));
        assert_eq!(promise_in_header(&buf[..7]), None);
        // A longer rest is promised in part, never wrapped.
        assert_eq!(promise_flags(1 << 40) >> 16, MAX_PROMISE as u32);
        // A header whose magic is wrong promises nothing.
        buf[0] ^= 1;
        assert_eq!(promise_in_header(&buf), None);
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
    fn pieces_check_what_a_whole_message_check_does() {
        let shape = Shape {
            fields: 3,
            field_size: 29,
        };
        let mut m = Message::new(shape, 0);
        for mode in [Verify::Full, Verify::Sampled] {
            for cut in [1, 3, 7, 8, 9, 16, 30, 64] {
                for bad in [None, Some(0), Some(5), Some(28), Some(29 + 14), Some(86)] {
                    m.stamp(0, 0);
                    let mut w = wire(&m);
                    if let Some(b) = bad {
                        w[HEADER_LEN + b] ^= 0x20;
                    }
                    let whole = Verifier::new(shape, mode, PoolPlan::new(1, false)).check(&w);
                    let mut v = Verifier::new(shape, mode, PoolPlan::new(1, false));
                    let piecewise = v.begin(&w[..HEADER_LEN]).and_then(|p| {
                        for (i, piece) in w[HEADER_LEN..].chunks(cut).enumerate() {
                            v.check_piece(&p, i * cut, piece)?;
                        }
                        Ok(p.header)
                    });
                    assert_eq!(whole, piecewise, "{mode:?} cut {cut} bad {bad:?}");
                }
            }
        }
    }

    #[test]
    fn check_field_at_finds_a_byte_at_any_start() {
        let mut buf = vec![0u8; 61];
        fill_field(&mut buf, 2, 1, 4);
        for start in 0..buf.len() {
            for end in start..=buf.len() {
                assert_eq!(check_field_at(&buf[start..end], 2, 1, 4, start), Ok(()));
            }
            buf[start] ^= 1;
            assert_eq!(check_field_at(&buf[start..], 2, 1, 4, start), Err(start));
            if start > 0 {
                assert_eq!(check_field_at(&buf[..start], 2, 1, 4, 0), Ok(()));
            }
            buf[start] ^= 1;
        }
    }

    #[test]
    fn a_flipped_byte_is_found_where_it_is() {
        let mut m = Message::new(SHAPE, 0);
        m.stamp(0, 0);
        let mut w = wire(&m);
        w[HEADER_LEN + 13 + 6] ^= 0x40;
        let err = Verifier::new(SHAPE, Verify::Full, PoolPlan::new(3, false))
            .check(&w)
            .unwrap_err();
        assert_eq!(
            err,
            VerifyError::Content {
                seq: 0,
                slot: 0,
                generation: 0,
                field: 1,
                offset: 6
            }
        );
    }

    #[test]
    fn sampled_mode_checks_field_ends_of_every_message() {
        let mut v = Verifier::new(SHAPE, Verify::Sampled, PoolPlan::new(1, false));
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
        let mut v = Verifier::new(SHAPE, Verify::Full, PoolPlan::new(1, false));
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
        let mut m = Message::new(SHAPE, 0);
        m.stamp(0, 0);
        let old = wire(&m);
        m.refill(1);
        m.stamp(0, 0);
        let mut mixed = wire(&m);
        // The header of the old send with the bytes of the new generation:
        // what a receiver sees when a buffer is rewritten before completion.
        mixed[..HEADER_LEN].copy_from_slice(&old[..HEADER_LEN]);
        let pool = PoolPlan::new(1, true);
        assert!(matches!(
            Verifier::new(SHAPE, Verify::Full, pool).check(&mixed),
            Err(VerifyError::Content { generation: 0, .. })
        ));
    }

    /// Sends `n` messages from a pool as a [`crate::engine::strategy::Sender`] would,
    /// and returns what the verifier said of each.
    fn deliver(
        pool: PoolPlan,
        mode: Verify,
        n: u64,
        spoil: impl Fn(u64, &mut Vec<u8>),
    ) -> Vec<Result<Header, VerifyError>> {
        let mut msgs: Vec<Message> = (0..pool.slots as u32)
            .map(|s| Message::new(SHAPE, s))
            .collect();
        let mut v = Verifier::new(SHAPE, mode, pool);
        (0..n)
            .map(|seq| {
                let m = &mut msgs[pool.slot(seq) as usize];
                if pool.refill && seq >= pool.slots as u64 {
                    m.refill(pool.generation(seq));
                }
                m.stamp(seq, 0);
                let mut w = wire(m);
                spoil(seq, &mut w);
                v.check(&w)
            })
            .collect()
    }

    #[test]
    fn headers_must_name_the_slot_and_generation_of_their_sequence() {
        for refill in [false, true] {
            let pool = PoolPlan::new(4, refill);
            assert!(deliver(pool, Verify::Sampled, 20, |_, _| {})
                .iter()
                .all(Result::is_ok));
            // Slot 1's message arrives where slot 2's was due (seq 6), with
            // its own intact content: only the header can tell.
            let wrong = deliver(pool, Verify::Full, 7, |seq, w| {
                if seq == 6 {
                    let mut other = Message::new(SHAPE, 1);
                    other.refill(pool.generation(6));
                    other.stamp(6, 0);
                    *w = wire(&other);
                }
            });
            assert!(
                matches!(
                    wrong[6],
                    Err(VerifyError::Origin {
                        seq: 6,
                        slot: 1,
                        want_slot: 2,
                        ..
                    })
                ),
                "{:?}",
                wrong[6]
            );
        }
        // A stale generation: slot 0's first content where its second was due.
        let pool = PoolPlan::new(2, true);
        let stale = deliver(pool, Verify::Full, 3, |seq, w| {
            if seq == 2 {
                w[20..24].copy_from_slice(&0u32.to_le_bytes());
            }
        });
        assert!(matches!(
            stale[2],
            Err(VerifyError::Origin {
                generation: 0,
                want_generation: 1,
                ..
            })
        ));
    }

    #[test]
    fn sampled_full_checks_visit_every_slot_whatever_the_pool_size() {
        for slots in (1..=70).chain([127, 128, 200, 1000]) {
            let mut full = FullChecks::new(slots);
            let mut seen = vec![0u32; slots];
            let mut checks = 0u64;
            let n = SAMPLE_EVERY * (slots as u64 + 2) * 2;
            for seq in 0..n {
                if full.due(seq) {
                    seen[(seq % slots as u64) as usize] += 1;
                    checks += 1;
                }
            }
            assert!(seen.iter().all(|&c| c > 0), "{slots} slots: {seen:?}");
            // About one message in SAMPLE_EVERY, never fewer.
            assert!(
                checks >= n / (SAMPLE_EVERY + slots as u64),
                "{slots}: {checks}"
            );
            assert!(checks <= n / SAMPLE_EVERY + 1, "{slots}: {checks}");
        }
    }

    #[test]
    fn sampled_mode_finds_a_middle_byte_flipped_in_any_slot() {
        // The default pool for small fields is 64 slots, which divides 64.
        let pool = PoolPlan::new(64, false);
        for bad_slot in [1, 17, 63] {
            let mid = HEADER_LEN + SHAPE.field_size + SHAPE.field_size / 2;
            let res = deliver(pool, Verify::Sampled, 64 * 66, |seq, w| {
                if pool.slot(seq) == bad_slot {
                    w[mid] ^= 0x04;
                }
            });
            let err = res.iter().find_map(|r| r.as_ref().err());
            assert!(
                matches!(err, Some(VerifyError::Content { slot, field: 1, offset: 6, .. }) if *slot == bad_slot),
                "slot {bad_slot}: {err:?}"
            );
        }
    }

    #[test]
    fn io_slices_cover_header_and_fields_in_order() {
        for layout in Layout::ALL {
            for fields in [1, 8, 9, 32, 33, 40] {
                let shape = Shape {
                    fields,
                    field_size: 5,
                };
                let mut m = Message::with_layout(shape, 0, layout);
                m.stamp(4, 0);
                let gathered: Vec<u8> =
                    m.with_io_slices(|s| s.iter().flat_map(|s| s.to_vec()).collect());
                assert_eq!(gathered, wire(&m));
                assert_eq!(gathered.len(), shape.message_bytes());
                let mut v = Verifier::new(shape, Verify::Full, PoolPlan::new(1, false));
                m.stamp(0, 0);
                v.check(&wire(&m)).unwrap();
            }
        }
    }

    #[test]
    fn page_layout_aligns_fields_and_keeps_the_header_in_one_page() {
        let page = page_size();
        for (fields, field_size) in [(1, 64), (1, 4096), (1, 65536), (8, 4096), (3, 5000)] {
            let shape = Shape { fields, field_size };
            let m = Message::with_layout(shape, 0, Layout::Page);
            for f in m.fields() {
                assert_eq!(f.as_ptr() as usize % page, 0, "{shape:?}");
            }
            let h = m.header_bytes().as_ptr() as usize;
            assert_eq!((h + HEADER_LEN) % page, 0, "the header ends a page");
            assert_eq!(
                m.pages(),
                1 + fields * field_size.div_ceil(page),
                "{shape:?}"
            );
        }
        // 32 B + 64 KiB: 17 pages, the default max_skb_frags; never fewer.
        let one = Shape {
            fields: 1,
            field_size: 16 * page,
        };
        assert_eq!(Message::with_layout(one, 0, Layout::Page).pages(), 17);
        assert!(Message::with_layout(one, 0, Layout::Heap).pages() >= 17);
    }

    #[test]
    fn pages_spanned_counts_every_page_touched() {
        let page = page_size();
        let buf = vec![0u8; 3 * page];
        let at = buf.as_ptr().align_offset(page);
        assert_eq!(pages_spanned(&buf[at..at + page]), 1);
        assert_eq!(pages_spanned(&buf[at + 1..at + page + 1]), 2);
        assert_eq!(pages_spanned(&buf[at + page - 1..at + page + 1]), 2);
        assert_eq!(pages_spanned(&buf[at..at]), 0);
    }
}
