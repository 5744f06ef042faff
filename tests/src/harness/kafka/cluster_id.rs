//! KRaft cluster ids for the storage tool.

use std::time::Instant;

/// A KRaft cluster id: 16 random bytes, base64url without padding. Like
/// Kafka's own `Uuid.randomUuid`, never one that starts with `-`, which the
/// storage tool's argument parser would take for an option (1 id in 64).
pub(super) fn new_cluster_id() -> String {
    use base64::Engine as _;
    use std::hash::{BuildHasher, Hasher};
    loop {
        let mut bytes = [0u8; 16];
        for chunk in bytes.chunks_mut(8) {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u128(Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id()));
            chunk.copy_from_slice(&hasher.finish().to_le_bytes());
        }
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        if !id.starts_with('-') {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::new_cluster_id;

    #[test]
    fn cluster_ids_are_16_bytes_and_never_look_like_an_option() {
        use base64::Engine as _;
        for _ in 0..2_000 {
            let id = new_cluster_id();
            assert!(!id.starts_with('-'), "{id}");
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&id)
                .expect("base64url");
            assert_eq!(bytes.len(), 16);
        }
    }
}
