use super::*;

#[test]
fn an_id_is_a_duplicate_only_inside_the_window() {
    let mut set = DeliveredSet::new(Duration::from_secs(60));
    let id = id_hash("evt-1");
    set.insert(id, 1_000);
    assert!(set.contains(id, 1_000));
    assert!(set.contains(id, 61_000));
    assert!(!set.contains(id, 61_001), "older than the window");
    assert!(!set.contains(id_hash("evt-2"), 1_000));
}

#[test]
fn expiry_frees_memory_in_delivery_order() {
    let mut set = DeliveredSet::new(Duration::from_secs(10));
    for i in 0..100 {
        set.insert(id_hash(&format!("evt-{i}")), i * 1_000);
    }
    set.expire(50_000);
    assert_eq!(set.len(), 60, "ids delivered at 40s..99s stay");
    assert!(set.contains(id_hash("evt-40"), 50_000));
    assert!(!set.contains(id_hash("evt-39"), 50_000));
    set.expire(1_000_000);
    assert!(set.is_empty());
}

#[test]
fn an_id_survives_its_storage_layout() {
    for id in [
        0,
        1,
        u128::MAX,
        id_hash("genesys/evt-1"),
        1 << 64,
        (1 << 64) - 1,
    ] {
        assert_eq!(IdHash::from(StoredId::from(id)), id);
    }
}

#[test]
fn an_expired_id_stops_counting_before_the_sweep_frees_it() {
    let mut set = DeliveredSet::new(Duration::from_secs(32));
    set.insert(id_hash("a"), 0);
    set.insert(id_hash("b"), 500);
    set.expire(32_001);
    assert_eq!(set.len(), 1, "a is swept");
    // b expires after 32.5 s; a sweep less than a 32nd of the window
    // (1 s) after the last one is skipped, but b no longer counts.
    set.expire(32_600);
    assert_eq!(set.len(), 1);
    assert!(!set.contains(id_hash("b"), 32_600));
    set.expire(33_001);
    assert!(set.is_empty(), "swept once the interval passed");
}

#[test]
fn a_background_load_is_absorbed_whole_or_merged() {
    let mut held = DeliveredSet::new(Duration::from_secs(60));
    held.next_marker_offset = Some(7);
    let mut loaded = held.continuation();
    assert_eq!(
        loaded.next_marker_offset,
        Some(7),
        "catch up from where it stopped"
    );
    loaded.insert(id_hash("a"), 1_000);
    loaded.next_marker_offset = Some(9);
    held.absorb(loaded);
    assert!(held.contains(id_hash("a"), 1_000));
    assert_eq!(held.next_marker_offset, Some(9));
    let mut more = held.continuation();
    more.insert(id_hash("b"), 2_000);
    held.absorb(more);
    assert!(held.contains(id_hash("a"), 2_000) && held.contains(id_hash("b"), 2_000));
    assert_eq!(held.len(), 2);
}

#[test]
fn a_fenced_record_is_delivered_again_once() {
    let mut set = DeliveredSet::new(Duration::from_secs(3600));
    let id = id_hash("genesys/evt-1");
    set.insert(id, 1_000);
    assert!(set.is_duplicate(id, 2_000, &ReadAt::plain("webhooks", 5)));
    set.fences.add(Fence {
        topic: "webhooks".into(),
        from: 0,
        to: 10,
        at_ms: 3_000,
    });
    assert!(
        !set.is_duplicate(id, 4_000, &ReadAt::plain("webhooks", 5)),
        "replayed on request"
    );
    assert!(
        set.is_duplicate(id, 4_000, &ReadAt::plain("webhooks", 12)),
        "outside the range"
    );
    set.insert(id, 4_500);
    assert!(
        set.is_duplicate(id, 5_000, &ReadAt::plain("webhooks", 7)),
        "a second copy in the range"
    );
}

#[test]
fn a_redelivery_copy_is_delivered_once_then_deduped_like_any_copy() {
    let mut set = DeliveredSet::new(Duration::from_secs(3600));
    let id = id_hash("genesys/evt-1");
    set.insert(id, 1_000);
    let copy = ReadAt {
        redelivery_at_ms: Some(3_000),
        ..ReadAt::plain("webhooks", 40)
    };
    assert!(!set.is_duplicate(id, 4_000, &copy), "asked for again");
    assert!(
        set.is_duplicate(id, 4_000, &ReadAt::plain("webhooks", 41)),
        "other copies stay duplicates"
    );
    set.insert(id, 4_500);
    assert!(
        set.is_duplicate(id, 5_000, &copy),
        "the copy read twice (a replay) is delivered once"
    );
}

#[test]
fn an_id_delivered_again_still_expires() {
    let mut set = DeliveredSet::new(Duration::from_secs(10));
    let id = id_hash("evt-1");
    set.insert(id, 0);
    // Delivered again (or its marker read back after a rebalance).
    set.insert(id, 5_000);
    set.insert(id, 3_000);
    set.expire(12_000);
    assert!(set.contains(id, 12_000), "the later delivery still counts");
    set.expire(16_000);
    assert!(set.is_empty(), "nothing is held for ever");
}

#[test]
fn different_ids_hash_apart() {
    assert_ne!(id_hash("a"), id_hash("b"));
    assert_eq!(id_hash("a"), id_hash("a"));
}

#[test]
fn the_same_id_from_two_sources_is_two_events() {
    assert_ne!(
        id_hash(&dedupe_key("a", "1")),
        id_hash(&dedupe_key("b", "1"))
    );
    assert_eq!(dedupe_key("genesys", "evt-1"), "genesys/evt-1");
    assert_eq!(
        event_id_hash("genesys", "evt-1"),
        id_hash(&dedupe_key("genesys", "evt-1"))
    );
}
