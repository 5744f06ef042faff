//! Which partition a producer puts a keyed record on: librdkafka's own
//! partitioner functions, called directly, so a reader can find a key's
//! records in exactly the partition its producer chose (one partition per
//! topic instead of all of them). The partitioner is the client setting
//! `partitioner` (librdkafka's default `consistent_random`: CRC32 of the
//! key); every one librdkafka names is supported.

use std::ffi::c_void;

use rdkafka::bindings as rdsys;

use super::KafkaSettings;

type Partitioner = unsafe extern "C" fn(
    *const rdsys::rd_kafka_topic_t,
    *const c_void,
    usize,
    i32,
    *mut c_void,
    *mut c_void,
) -> i32;

/// The partition (of `partitions`) that a producer with `settings`
/// writes a record keyed `key` to. Refuses an empty key (the random
/// partitioners spread those) or an unknown partitioner name.
pub fn partition_of(settings: &KafkaSettings, key: &[u8], partitions: i32) -> Result<i32, String> {
    let name = settings.get("partitioner").unwrap_or("consistent_random");
    let partitioner: Partitioner = match name {
        "consistent" | "consistent_random" => rdsys::rd_kafka_msg_partitioner_consistent,
        "murmur2" | "murmur2_random" => rdsys::rd_kafka_msg_partitioner_murmur2,
        "fnv1a" | "fnv1a_random" => rdsys::rd_kafka_msg_partitioner_fnv1a,
        other => {
            return Err(format!(
                "partitioner {other:?} puts a key on no fixed partition; only consistent, murmur2 and fnv1a (and their _random forms) do"
            ))
        }
    };
    if key.is_empty() || partitions < 1 {
        return Err("an empty key or no partitions: no fixed partition".into());
    }
    // SAFETY: librdkafka's partitioners read `keylen` bytes of `key` and
    // nothing else (the topic and opaques are unused for a keyed record).
    let partition = unsafe {
        partitioner(
            std::ptr::null(),
            key.as_ptr().cast(),
            key.len(),
            partitions,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    Ok(partition)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_crc32_of_the_key_and_other_partitioners_are_named() {
        let default = KafkaSettings::default();
        for key in ["e-1", "7f3e2a", "conversation-42"] {
            let expected = (crc32fast::hash(key.as_bytes()) % 12) as i32;
            assert_eq!(
                partition_of(&default, key.as_bytes(), 12),
                Ok(expected),
                "{key}"
            );
        }
        let murmur = KafkaSettings::from_pairs([("partitioner", "murmur2_random")]);
        let p = partition_of(&murmur, b"e-1", 12).expect("murmur2");
        assert!((0..12).contains(&p));
        assert_eq!(partition_of(&murmur, b"e-1", 12), Ok(p), "stable");
        let random = KafkaSettings::from_pairs([("partitioner", "random")]);
        assert!(partition_of(&random, b"e-1", 12).is_err());
        assert!(partition_of(&default, b"", 12).is_err());
    }
}
