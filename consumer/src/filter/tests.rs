use super::*;

const END: &str = "v2.detail.events.conversation.{id}.customer.end";
const PRESENCE: &str = "v2.audits.entitytype.{id}.entityid.{id}";

fn filter(toml_text: &str) -> Filter {
    let settings: FilterSettings = toml::from_str(toml_text).expect("toml");
    Filter::new("destination", &settings)
        .expect("valid")
        .expect("filters")
}

#[test]
fn types_match_by_glob_and_an_untyped_event_is_not_taken() {
    let ends = filter(r#"types = ["v2.detail.events.conversation.*.customer.end"]"#);
    assert_eq!(ends.by_type(Some(END)), Verdict::Takes);
    assert_eq!(ends.by_type(Some(PRESENCE)), Verdict::Skips);
    assert_eq!(ends.by_type(None), Verdict::Skips);
    let either = filter(r#"types = ["v2.audits.*", "v2.detail.events.conversation.?id?.*"]"#);
    assert_eq!(either.by_type(Some(PRESENCE)), Verdict::Takes);
    assert_eq!(either.by_type(Some(END)), Verdict::Takes);
}

#[test]
fn body_conditions_must_all_hold() {
    let voice = filter(
        r#"
        types = ["v2.detail.events.conversation.*"]
        where = [
            { pointer = "/detail/eventBody/mediaType", equals = "VOICE" },
            { pointer = "/detail/eventBody/direction", in = ["INBOUND", "OUTBOUND"] },
            { pointer = "/detail/eventBody/transfer", exists = false },
        ]
        "#,
    );
    assert_eq!(voice.by_type(Some(END)), Verdict::NeedsBody);
    let body = |media: &str| {
        format!(r#"{{"detail":{{"eventBody":{{"mediaType":"{media}","direction":"INBOUND"}}}}}}"#)
    };
    assert!(voice.by_body(body("VOICE").as_bytes()));
    assert!(!voice.by_body(body("CHAT").as_bytes()));
    assert!(!voice.by_body(b"not json"));
    let event = Envelope {
        event_type: END.into(),
        body: body("VOICE").into_bytes().into(),
        ..Envelope::default()
    };
    assert!(voice.takes(&event));
    let untyped = Envelope {
        event_type: String::new(),
        ..event
    };
    assert!(!voice.takes(&untyped), "no type, no match");
    let absent = filter(r#"where = [{ pointer = "/x", exists = false }]"#);
    assert!(absent.by_body(b"not json"), "nothing is there");
}

#[test]
fn a_filter_that_cannot_work_is_refused_at_start_naming_it() {
    let refused = |text: &str| {
        let settings: FilterSettings = toml::from_str(text).expect("toml");
        Filter::new("destination.sources.crm", &settings).expect_err("refused")
    };
    assert!(refused(r#"types = [""]"#).contains("can never match"));
    assert!(refused(r#"types = [" v2.*"]"#).contains("can never match"));
    assert!(
        refused(r#"where = [{ pointer = "detail", exists = true }]"#)
            .contains("not a JSON pointer")
    );
    let two = refused(r#"where = [{ pointer = "/a", equals = 1, exists = true }]"#);
    assert!(two.contains("exactly one of"), "{two}");
    assert!(two.starts_with("destination.sources.crm.filter"), "{two}");
    let empty = Filter::new("destination", &FilterSettings::default()).expect("valid");
    assert!(empty.is_none(), "an empty filter filters nothing");
}

fn record(headers: &[(&str, &str)]) -> ConsumedRecord {
    ConsumedRecord {
        stage: 0,
        topic: "webhooks".into(),
        partition: 0,
        offset: 0,
        timestamp_ms: 0,
        key: None,
        payload: bytes::Bytes::new(),
        carried: headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect(),
        hop: Default::default(),
    }
}

#[test]
fn each_source_is_judged_by_its_own_destination_from_the_headers() {
    let filters = Filters {
        default: Some(Arc::new(filter(r#"types = ["v2.audits.*"]"#))),
        sources: BTreeMap::from([("crm".to_owned(), None)]),
    };
    let genesys_end = record(&[(h::SOURCE, "genesys"), (h::EVENT_TYPE, END)]);
    assert_eq!(filters.skips_by_headers(&genesys_end), Some("default"));
    let presence = record(&[(h::SOURCE, "genesys"), (h::EVENT_TYPE, PRESENCE)]);
    assert_eq!(filters.skips_by_headers(&presence), None);
    let crm = record(&[(h::SOURCE, "crm"), (h::EVENT_TYPE, END)]);
    assert_eq!(
        filters.skips_by_headers(&crm),
        None,
        "crm's destination has no filter"
    );
    let no_type = record(&[(h::SOURCE, "genesys")]);
    assert_eq!(
        filters.skips_by_headers(&no_type),
        None,
        "the envelope decides"
    );
    let event = Envelope {
        source: "genesys".into(),
        ..Envelope::default()
    };
    assert_eq!(filters.skips(&event), Some("default"));
    assert!(Filters::default().is_empty());
}
