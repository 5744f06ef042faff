//! What the broker lets this client's identity do on each of some topics:
//! the topic's *authorized operations* (KIP-430), asked with librdkafka's
//! `DescribeTopics` (rust-rdkafka does not wrap it, so this module calls
//! the C API). A start-up check reads them to refuse early and say which
//! right is missing, instead of failing record by record later.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::time::Duration;

use rdkafka::bindings as rdsys;
use rdkafka::client::{Client, ClientContext};
use rdkafka::error::RDKafkaErrorCode;

/// An operation on a topic, as the broker's authorizer names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// Consume (fetch) and commit offsets for it.
    Read,
    /// Produce to it.
    Write,
    /// Create it.
    Create,
    /// Delete it.
    Delete,
    /// Change its partitions.
    Alter,
    /// See it in metadata, list its offsets.
    Describe,
    /// Read its configs.
    DescribeConfigs,
    /// Change its configs.
    AlterConfigs,
}

impl Operation {
    /// The authorizer's name for it (what an ACL lists).
    pub const fn name(self) -> &'static str {
        match self {
            Operation::Read => "Read",
            Operation::Write => "Write",
            Operation::Create => "Create",
            Operation::Delete => "Delete",
            Operation::Alter => "Alter",
            Operation::Describe => "Describe",
            Operation::DescribeConfigs => "DescribeConfigs",
            Operation::AlterConfigs => "AlterConfigs",
        }
    }

    fn from_native(op: rdsys::rd_kafka_AclOperation_t) -> Option<Operation> {
        use rdsys::rd_kafka_AclOperation_t::*;
        Some(match op {
            RD_KAFKA_ACL_OPERATION_READ => Operation::Read,
            RD_KAFKA_ACL_OPERATION_WRITE => Operation::Write,
            RD_KAFKA_ACL_OPERATION_CREATE => Operation::Create,
            RD_KAFKA_ACL_OPERATION_DELETE => Operation::Delete,
            RD_KAFKA_ACL_OPERATION_ALTER => Operation::Alter,
            RD_KAFKA_ACL_OPERATION_DESCRIBE => Operation::Describe,
            RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS => Operation::DescribeConfigs,
            RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS => Operation::AlterConfigs,
            _ => return None,
        })
    }
}

/// What the broker said about one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicRights {
    /// These operations are allowed to this identity (every other one is not).
    Allowed(Vec<Operation>),
    /// The broker refused to describe the topic: not authorised
    /// (`TopicAuthorizationFailed`), or it does not exist.
    Refused(RDKafkaErrorCode),
    /// The broker did not say (an older broker, or it returns no
    /// authorized operations): nothing can be concluded.
    Unknown,
}

/// The rights of `client`'s identity on each of `topics`, in one
/// `DescribeTopics` request bounded by `timeout`. Blocks: run it on a
/// blocking thread. `Err` carries librdkafka's words when the request
/// itself failed (no broker answered in time).
pub fn topic_rights<C: ClientContext>(
    client: &Client<C>,
    topics: &[String],
    timeout: Duration,
) -> Result<BTreeMap<String, TopicRights>, String> {
    let names: Vec<CString> = topics
        .iter()
        .map(|t| CString::new(t.as_str()).map_err(|_| format!("topic name {t:?} has a NUL")))
        .collect::<Result<_, _>>()?;
    let mut pointers: Vec<*const std::os::raw::c_char> = names.iter().map(|n| n.as_ptr()).collect();
    let rk = client.native_ptr();
    let mut errstr = [0 as std::os::raw::c_char; 512];
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: every object created here is destroyed before returning; the
    // result pointers read below belong to `event`, destroyed last.
    unsafe {
        let queue = rdsys::rd_kafka_queue_new(rk);
        let options = rdsys::rd_kafka_AdminOptions_new(
            rk,
            rdsys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBETOPICS,
        );
        let _ = rdsys::rd_kafka_AdminOptions_set_request_timeout(
            options,
            timeout_ms,
            errstr.as_mut_ptr(),
            errstr.len(),
        );
        let _ = rdsys::rd_kafka_AdminOptions_set_include_authorized_operations(options, 1);
        let collection =
            rdsys::rd_kafka_TopicCollection_of_topic_names(pointers.as_mut_ptr(), pointers.len());
        rdsys::rd_kafka_DescribeTopics(rk, collection, options, queue);
        // A little longer than the request's own timeout, which answers first.
        let event = rdsys::rd_kafka_queue_poll(queue, timeout_ms.saturating_add(1_000));
        let outcome = read_result(event);
        if !event.is_null() {
            rdsys::rd_kafka_event_destroy(event);
        }
        rdsys::rd_kafka_TopicCollection_destroy(collection);
        rdsys::rd_kafka_AdminOptions_destroy(options);
        rdsys::rd_kafka_queue_destroy(queue);
        outcome
    }
}

/// Reads a `DescribeTopics` result event.
///
/// # Safety
/// `event` is null or a live event from `rd_kafka_queue_poll`.
unsafe fn read_result(
    event: *mut rdsys::rd_kafka_event_t,
) -> Result<BTreeMap<String, TopicRights>, String> {
    if event.is_null() {
        return Err("no answer to DescribeTopics in time".into());
    }
    if rdsys::rd_kafka_event_error(event) != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
    {
        return Err(text(rdsys::rd_kafka_event_error_string(event)));
    }
    let result = rdsys::rd_kafka_event_DescribeTopics_result(event);
    if result.is_null() {
        return Err("an unexpected answer to DescribeTopics".into());
    }
    let mut count = 0usize;
    let descriptions = rdsys::rd_kafka_DescribeTopics_result_topics(result, &mut count);
    let mut rights = BTreeMap::new();
    for i in 0..count {
        let description = *descriptions.add(i);
        let name = text(rdsys::rd_kafka_TopicDescription_name(description));
        let error = rdsys::rd_kafka_TopicDescription_error(description);
        let found = if error.is_null() || rdsys::rd_kafka_error_code(error) as i32 == 0 {
            let mut ops = 0usize;
            let native =
                rdsys::rd_kafka_TopicDescription_authorized_operations(description, &mut ops);
            if native.is_null() || ops == 0 {
                TopicRights::Unknown
            } else {
                let mut allowed: Vec<Operation> = (0..ops)
                    .filter_map(|j| Operation::from_native(*native.add(j)))
                    .collect();
                allowed.sort_unstable();
                TopicRights::Allowed(allowed)
            }
        } else {
            TopicRights::Refused(RDKafkaErrorCode::from(rdsys::rd_kafka_error_code(error)))
        };
        rights.insert(name, found);
    }
    Ok(rights)
}

/// A C string librdkafka owns, copied (empty for null).
///
/// # Safety
/// `p` is null or a NUL-terminated string alive for this call.
unsafe fn text(p: *const std::os::raw::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}
