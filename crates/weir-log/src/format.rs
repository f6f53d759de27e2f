//! Byte formats of segment files: the segment header and the record frame (see the crate doc
//! for the layout). Decoding never panics, whatever the input.

use std::ops::Range;

use crate::error::Damage;

/// Magic at the start of every segment file.
pub(crate) const SEGMENT_MAGIC: [u8; 4] = *b"WLOG";
/// Version of the segment format.
pub(crate) const SEGMENT_VERSION: u32 = 1;
/// Length of the segment header: magic, version, base offset.
pub(crate) const SEGMENT_HEADER_LEN: u64 = 16;
/// Length and CRC fields in front of the body.
pub(crate) const FRAME_PREFIX_LEN: usize = 8;
/// Fixed part of the body: offset, timestamp, key length.
pub(crate) const BODY_FIXED_LEN: usize = 20;
/// Largest body any frame may have (1 GiB); anything longer is damage.
pub(crate) const MAX_BODY_LEN: u32 = 1 << 30;
/// Key length that stands for "no key".
const NO_KEY: u32 = u32::MAX;

/// Bytes a record takes in a segment beyond its key and value.
pub const RECORD_OVERHEAD: usize = FRAME_PREFIX_LEN + BODY_FIXED_LEN;

/// Bytes a record with this key and value takes in a segment.
#[must_use]
pub fn encoded_len(key: Option<&[u8]>, value: &[u8]) -> usize {
    RECORD_OVERHEAD + key.map_or(0, <[u8]>::len) + value.len()
}

/// The segment header for a segment starting at `base`.
pub(crate) fn segment_header(base: u64) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[0..4].copy_from_slice(&SEGMENT_MAGIC);
    h[4..8].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    h[8..16].copy_from_slice(&base.to_le_bytes());
    h
}

/// Whether `bytes` is a valid header of a segment starting at `base`.
pub(crate) fn header_is_valid(bytes: &[u8], base: u64) -> bool {
    bytes.len() >= SEGMENT_HEADER_LEN as usize && bytes[..16] == segment_header(base)
}

/// Appends one framed record to `out`.
pub(crate) fn encode_record(
    out: &mut Vec<u8>,
    offset: u64,
    timestamp_ms: i64,
    key: Option<&[u8]>,
    value: &[u8],
) {
    let key_bytes = key.unwrap_or(&[]);
    let body_len = BODY_FIXED_LEN + key_bytes.len() + value.len();
    let start = out.len();
    // Lengths were checked against max_record_bytes (< MAX_BODY_LEN) by the caller.
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&timestamp_ms.to_le_bytes());
    let key_len = key.map_or(NO_KEY, |k| k.len() as u32);
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(key_bytes);
    out.extend_from_slice(value);
    let crc = frame_crc(&out[start..start + 4], &out[start + FRAME_PREFIX_LEN..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn frame_crc(len_field: &[u8], body: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(len_field), body)
}

/// A decoded frame; ranges index into the frame's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FrameInfo {
    pub offset: u64,
    pub timestamp_ms: i64,
    pub key: Option<Range<usize>>,
    pub value: Range<usize>,
    /// Whole frame length, prefix included.
    pub len: usize,
}

/// Outcome of decoding the bytes at the start of a buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// A valid frame.
    Frame(FrameInfo),
    /// The buffer holds a prefix of a frame that needs this many bytes in all.
    Incomplete { needed: usize },
    /// The bytes cannot be a valid frame.
    Damaged(Damage),
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Decodes the frame at the start of `buf`, verifying its CRC.
pub(crate) fn decode_frame(buf: &[u8]) -> Decoded {
    if buf.len() < FRAME_PREFIX_LEN {
        return Decoded::Incomplete {
            needed: FRAME_PREFIX_LEN,
        };
    }
    let body_len = u32_at(buf, 0);
    if (body_len as usize) < BODY_FIXED_LEN || body_len > MAX_BODY_LEN {
        return Decoded::Damaged(Damage::LengthOutOfRange { len: body_len });
    }
    let len = FRAME_PREFIX_LEN + body_len as usize;
    if buf.len() < len {
        return Decoded::Incomplete { needed: len };
    }
    let stored = u32_at(buf, 4);
    let computed = frame_crc(&buf[0..4], &buf[FRAME_PREFIX_LEN..len]);
    if stored != computed {
        return Decoded::Damaged(Damage::ChecksumMismatch { stored, computed });
    }
    let offset = u64_at(buf, 8);
    let timestamp_ms = u64_at(buf, 16) as i64;
    let key_len = u32_at(buf, 24);
    let data_start = FRAME_PREFIX_LEN + BODY_FIXED_LEN;
    let (key, value_start) = if key_len == NO_KEY {
        (None, data_start)
    } else if (key_len as usize) <= len - data_start {
        let end = data_start + key_len as usize;
        (Some(data_start..end), end)
    } else {
        return Decoded::Damaged(Damage::KeyLengthOutOfRange { key_len });
    };
    Decoded::Frame(FrameInfo {
        offset,
        timestamp_ms,
        key,
        value: value_start..len,
        len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_with_and_without_key() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 7, -3, Some(b"k"), b"value");
        encode_record(&mut buf, 8, 99, None, b"");
        assert_eq!(
            buf.len(),
            encoded_len(Some(b"k"), b"value") + encoded_len(None, b"")
        );
        let Decoded::Frame(a) = decode_frame(&buf) else {
            panic!("first frame")
        };
        assert_eq!((a.offset, a.timestamp_ms), (7, -3));
        assert_eq!(&buf[a.key.clone().expect("key")], b"k");
        assert_eq!(&buf[a.value.clone()], b"value");
        let Decoded::Frame(b) = decode_frame(&buf[a.len..]) else {
            panic!("second frame")
        };
        assert_eq!((b.offset, b.key, b.value.len()), (8, None, 0));
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, 2, Some(b"key"), b"some value");
        for byte in 0..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[byte] ^= 1 << bit;
                assert!(
                    !matches!(decode_frame(&bad), Decoded::Frame(_)),
                    "flip of bit {bit} in byte {byte} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn truncations_are_incomplete() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, 2, None, b"abc");
        for cut in 0..buf.len() {
            assert!(matches!(
                decode_frame(&buf[..cut]),
                Decoded::Incomplete { .. }
            ));
        }
    }

    proptest! {
        #[test]
        fn decoder_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            match decode_frame(&bytes) {
                Decoded::Frame(f) => {
                    prop_assert!(f.len <= bytes.len());
                    prop_assert!(f.value.end <= f.len);
                }
                Decoded::Incomplete { needed } => prop_assert!(needed > bytes.len()),
                Decoded::Damaged(_) => {}
            }
        }

        #[test]
        fn decoder_never_panics_on_a_valid_length_and_crc_with_random_body(
            body in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            // Forge a frame whose length and CRC are right, so decoding gets past the checksum
            // and has to cope with arbitrary offset, timestamp and key length fields.
            let mut buf = Vec::new();
            buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
            buf.extend_from_slice(&frame_crc(&(body.len() as u32).to_le_bytes(), &body).to_le_bytes());
            buf.extend_from_slice(&body);
            let _ = decode_frame(&buf);
        }

        #[test]
        fn encode_decode_round_trip(
            offset in any::<u64>(), ts in any::<i64>(),
            key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
            value in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let mut buf = Vec::new();
            encode_record(&mut buf, offset, ts, key.as_deref(), &value);
            let Decoded::Frame(f) = decode_frame(&buf) else { panic!("valid frame") };
            prop_assert_eq!(f.offset, offset);
            prop_assert_eq!(f.timestamp_ms, ts);
            prop_assert_eq!(f.key.map(|r| buf[r].to_vec()), key);
            prop_assert_eq!(&buf[f.value], &value[..]);
        }
    }
}
