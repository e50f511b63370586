//! Byte-level helpers shared by every binary format in the protocol: a bounds-checked big-endian
//! reader (so parsers are total: they return errors, never panic) and serde adapters that put
//! fixed-size byte strings into JSON as lower-case hex and blobs as base64.

use thiserror::Error;

/// Why a binary structure could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ReadError {
    /// The input ended before a field at byte `offset` that needs `needed` more bytes.
    #[error("input truncated at byte {offset}: {needed} more bytes needed")]
    Truncated {
        /// Where the missing field starts.
        offset: usize,
        /// How many bytes the field needs.
        needed: usize,
    },
    /// The variable-length integer at byte `offset` is overlong or exceeds 64 bits.
    #[error("invalid variable-length integer at byte {offset}")]
    BadVarint {
        /// Where it starts.
        offset: usize,
    },
    /// The input goes on for `extra` bytes after the structure ended.
    #[error("{extra} unexpected bytes after the end")]
    Trailing {
        /// How many bytes are left over.
        extra: usize,
    },
}

/// A cursor over a byte slice that reads big-endian fixed-width fields.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, offset: 0 }
    }

    pub(crate) fn offset(&self) -> usize {
        self.offset
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        let rest = &self.buf[self.offset..];
        if rest.len() < n {
            return Err(ReadError::Truncated {
                offset: self.offset,
                needed: n,
            });
        }
        self.offset += n;
        Ok(&rest[..n])
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ReadError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, ReadError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, ReadError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, ReadError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads an unsigned LEB128 integer in its shortest form: an overlong encoding or one that
    /// overflows 64 bits is refused, so each value has exactly one encoding.
    pub(crate) fn varint(&mut self) -> Result<u64, ReadError> {
        let start = self.offset;
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            if (bits << shift) >> shift != bits {
                return Err(ReadError::BadVarint { offset: start });
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                if byte == 0 && shift > 0 {
                    return Err(ReadError::BadVarint { offset: start });
                }
                return Ok(value);
            }
        }
        Err(ReadError::BadVarint { offset: start })
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.offset
    }

    /// Fails unless every byte has been consumed.
    pub(crate) fn finish(self) -> Result<(), ReadError> {
        match self.buf.len() - self.offset {
            0 => Ok(()),
            extra => Err(ReadError::Trailing { extra }),
        }
    }
}

/// Appends `value` as unsigned LEB128 (7 bits a byte, low bits first), in its shortest form.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Serde adapter: `[u8; N]` as a lower-case hex string of exactly `2 * N` characters.
pub mod hex_array {
    use data_encoding::HEXLOWER_PERMISSIVE;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    /// Serializes as lower-case hex.
    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&data_encoding::HEXLOWER.encode(bytes))
    }

    /// Accepts hex of either case; any other length or character is an error.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let bytes = HEXLOWER_PERMISSIVE
            .decode(text.as_bytes())
            .map_err(|e| D::Error::custom(format!("invalid hex: {e}")))?;
        <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| {
            D::Error::custom(format!(
                "expected {} hex characters, got {}",
                2 * N,
                text.len()
            ))
        })
    }
}

/// Serde adapter: a byte blob as standard base64 with padding.
pub mod base64_blob {
    use data_encoding::BASE64;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    /// Serializes as base64.
    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&BASE64.encode(bytes))
    }

    /// Strict base64; anything else is an error.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        BASE64
            .decode(text.as_bytes())
            .map_err(|e| D::Error::custom(format!("invalid base64: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_reports_truncation_and_trailing_bytes() {
        let mut reader = Reader::new(&[0, 1, 2]);
        assert_eq!(reader.u16(), Ok(1));
        assert_eq!(
            reader.u16(),
            Err(ReadError::Truncated {
                offset: 2,
                needed: 2
            })
        );
        assert_eq!(reader.finish(), Err(ReadError::Trailing { extra: 1 }));
    }

    #[test]
    fn varints_round_trip_and_refuse_overlong_or_overflowing_forms() {
        for value in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            let mut reader = Reader::new(&out);
            assert_eq!(reader.varint(), Ok(value));
            assert_eq!(reader.finish(), Ok(()));
        }
        let bad = |bytes: &[u8]| Reader::new(bytes).varint();
        assert_eq!(bad(&[0x80, 0x00]), Err(ReadError::BadVarint { offset: 0 }));
        let mut too_big = vec![0xff; 9];
        too_big.push(0x02);
        assert_eq!(bad(&too_big), Err(ReadError::BadVarint { offset: 0 }));
        assert_eq!(bad(&[0xff; 11]), Err(ReadError::BadVarint { offset: 0 }));
        assert_eq!(
            bad(&[0x80]),
            Err(ReadError::Truncated {
                offset: 1,
                needed: 1
            })
        );
    }

    #[test]
    fn reader_reads_big_endian() {
        let mut reader = Reader::new(&[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(reader.u32(), Ok(0xdead_beef));
        assert_eq!(reader.u64(), Ok(7));
        assert_eq!(reader.finish(), Ok(()));
    }
}
