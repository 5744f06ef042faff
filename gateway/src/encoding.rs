//! Compressed request bodies (`Content-Encoding`): which codings the gateway
//! decodes (`gzip`, `deflate`, `br`), and decoding with the source's body
//! limit applied to the decoded bytes. A decoder is read in small chunks
//! and stopped as soon as the limit is crossed, so a small body that expands
//! without end (a compression bomb) costs at most the limit, answered `413`.
//! Each decoded chunk is reserved from the body budget like read bytes.

use std::io::Read;

use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap};

use crate::body::{BodyBudget, Reservation};
use crate::problem::Rejection;

/// How much is decoded at a time.
const CHUNK: usize = 16 * 1024;

/// A body's content coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// Not compressed (no `Content-Encoding`, or `identity`).
    Identity,
    /// `gzip` (or its alias `x-gzip`).
    Gzip,
    /// `deflate`: zlib-wrapped as RFC 9110 says, or raw deflate as some senders send it.
    Deflate,
    /// `br`: Brotli.
    Brotli,
}

impl Coding {
    /// The coding's name as senders write it.
    pub fn name(self) -> &'static str {
        match self {
            Coding::Identity => "identity",
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
        }
    }
}

/// The coding `headers` declare; one the gateway does not decode (or a
/// stack of several) is `415` naming it.
pub fn coding_of(headers: &HeaderMap) -> Result<Coding, Rejection> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(Coding::Identity);
    };
    let text = value.to_str().unwrap_or_default().trim();
    match text.to_ascii_lowercase().as_str() {
        "" | "identity" => Ok(Coding::Identity),
        "gzip" | "x-gzip" => Ok(Coding::Gzip),
        "deflate" => Ok(Coding::Deflate),
        "br" => Ok(Coding::Brotli),
        _ => Err(Rejection::UnsupportedEncoding {
            encoding: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        }),
    }
}

/// Decodes `body` (encoded with `coding`) into at most `limit` bytes,
/// reserving what it decodes from `budget`; `413` once the decoded body
/// passes `limit`, `400` when the bytes are not of that coding.
pub fn decode(
    coding: Coding,
    body: Bytes,
    limit: usize,
    budget: &BodyBudget,
    reservation: &mut Reservation,
) -> Result<Bytes, Rejection> {
    let encoded: &[u8] = &body;
    let mut decoder: Box<dyn Read + '_> = match coding {
        Coding::Identity => return Ok(body),
        Coding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(encoded)),
        // A zlib stream starts with CM = 8 in its low nibble and a header
        // whose 16 bits are a multiple of 31; anything else is raw deflate.
        Coding::Deflate if is_zlib(encoded) => Box::new(flate2::read::ZlibDecoder::new(encoded)),
        Coding::Deflate => Box::new(flate2::read::DeflateDecoder::new(encoded)),
        Coding::Brotli => Box::new(brotli::Decompressor::new(encoded, CHUNK)),
    };
    let mut decoded = BytesMut::new();
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = decoder
            .read(&mut chunk)
            .map_err(|error| Rejection::MalformedEncoding {
                encoding: coding.name(),
                detail: error.to_string(),
            })?;
        if n == 0 {
            return Ok(decoded.freeze());
        }
        if decoded.len() + n > limit {
            return Err(Rejection::PayloadTooLarge { limit });
        }
        budget.reserve_more(reservation, n)?;
        decoded.extend_from_slice(&chunk[..n]);
    }
}

fn is_zlib(bytes: &[u8]) -> bool {
    match bytes {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn budget() -> BodyBudget {
        BodyBudget::new(64 * 1024 * 1024, 1)
    }

    fn gzip(bytes: &[u8]) -> Bytes {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(bytes).expect("gzip");
        encoder.finish().expect("gzip").into()
    }

    fn headers(encoding: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, encoding.parse().expect("value"));
        headers
    }

    #[test]
    fn each_coding_round_trips() {
        let json = br#"{"id":"e-1","detail":{"n":1}}"#;
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(json).expect("zlib");
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(json).expect("deflate");
        let mut br = Vec::new();
        brotli::CompressorWriter::new(&mut br, 4096, 5, 22)
            .write_all(json)
            .expect("br");
        let cases = [
            (Coding::Gzip, gzip(json)),
            (Coding::Deflate, Bytes::from(zlib.finish().expect("zlib"))),
            (Coding::Deflate, Bytes::from(raw.finish().expect("deflate"))),
            (Coding::Brotli, Bytes::from(br)),
            (Coding::Identity, Bytes::from_static(json)),
        ];
        for (coding, body) in cases {
            let mut reservation = Reservation::default();
            let decoded = decode(coding, body, 1024, &budget(), &mut reservation).expect("decodes");
            assert_eq!(&decoded[..], json, "{coding:?}");
        }
    }

    #[test]
    fn a_bomb_is_413_at_the_limit_without_decoding_the_rest() {
        // 64 MiB of zeros compress to about 64 KiB.
        let bomb = gzip(&vec![0u8; 64 * 1024 * 1024]);
        assert!(bomb.len() < 128 * 1024, "{}", bomb.len());
        let budget = budget();
        let mut reservation = Reservation::default();
        let refused = decode(Coding::Gzip, bomb, 1024 * 1024, &budget, &mut reservation)
            .expect_err("too large");
        assert!(matches!(
            refused,
            Rejection::PayloadTooLarge { limit: 1_048_576 }
        ));
        assert!(
            budget.available() >= 63 * 1024 * 1024,
            "no more than the limit was reserved"
        );
    }

    #[test]
    fn unknown_and_stacked_codings_are_415_and_garbage_is_400() {
        for encoding in ["compress", "zstd", "gzip, br"] {
            let refused = coding_of(&headers(encoding)).expect_err(encoding);
            assert!(matches!(refused, Rejection::UnsupportedEncoding { .. }));
            assert_eq!(refused.status(), http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
        }
        assert_eq!(coding_of(&headers("GZIP")).expect("gzip"), Coding::Gzip);
        assert_eq!(
            coding_of(&HeaderMap::new()).expect("none"),
            Coding::Identity
        );
        let mut reservation = Reservation::default();
        let refused = decode(
            Coding::Gzip,
            Bytes::from_static(b"{\"id\":1}"),
            1024,
            &budget(),
            &mut reservation,
        )
        .expect_err("not gzip");
        assert_eq!(refused.status(), http::StatusCode::BAD_REQUEST);
    }
}
