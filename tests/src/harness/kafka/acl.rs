//! ACLs for the secured test cluster, read from the one place the
//! deployment reads them too: the Strimzi `KafkaUser` resources in
//! `deploy/strimzi/switchboard.yaml`. Created (and revoked) with
//! librdkafka's `CreateAcls` and `DeleteAcls` as the super-user
//! (rust-rdkafka has no ACL API).

use std::ffi::CString;
use std::path::Path;
use std::time::Duration;

use rdkafka::bindings as rdsys;
use rdkafka::producer::{BaseProducer, Producer as _};
use rdkafka::ClientConfig;

/// One `ALLOW` rule: `principal` may do `operation` on a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclRule {
    /// `User:<name>`.
    pub principal: String,
    /// `topic`, `group` or `cluster`.
    pub resource_type: String,
    /// The resource's name (`kafka-cluster` for the cluster).
    pub name: String,
    /// `literal` or `prefix`.
    pub pattern: String,
    /// As Strimzi writes it: `Read`, `Write`, `DescribeConfigs`, …
    pub operation: String,
}

/// Every rule of every `KafkaUser` in the Strimzi file at `path`.
pub fn strimzi_acls(path: &Path) -> Vec<AclRule> {
    let text = std::fs::read_to_string(path).expect("read the Strimzi file");
    let mut rules = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let value = serde_yaml_ng::Value::deserialize(document).expect("YAML");
        if value["kind"].as_str() != Some("KafkaUser") {
            continue;
        }
        let user = value["metadata"]["name"].as_str().expect("a user name");
        let acls = value["spec"]["authorization"]["acls"]
            .as_sequence()
            .expect("a user's acls");
        for acl in acls {
            let resource = &acl["resource"];
            let resource_type = resource["type"].as_str().expect("resource type").to_owned();
            let name = resource["name"]
                .as_str()
                .unwrap_or("kafka-cluster")
                .to_owned();
            let pattern = resource["patternType"]
                .as_str()
                .unwrap_or("literal")
                .to_owned();
            for operation in acl["operations"].as_sequence().expect("operations") {
                rules.push(AclRule {
                    principal: format!("User:{user}"),
                    resource_type: resource_type.clone(),
                    name: name.clone(),
                    pattern: pattern.clone(),
                    operation: operation.as_str().expect("operation").to_owned(),
                });
            }
        }
    }
    rules
}

use serde::Deserialize as _;

/// Creates `rules` on the cluster at `bootstrap` (as its super-user).
pub async fn create_acls(bootstrap: &str, rules: Vec<AclRule>) {
    change_acls(bootstrap, rules, Change::Create).await;
}

/// Deletes `rules` from the cluster at `bootstrap` (as its super-user):
/// a right revoked while the processes run.
pub async fn delete_acls(bootstrap: &str, rules: Vec<AclRule>) {
    change_acls(bootstrap, rules, Change::Delete).await;
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Change {
    Create,
    Delete,
}

async fn change_acls(bootstrap: &str, rules: Vec<AclRule>, change: Change) {
    let owned = bootstrap.to_owned();
    tokio::task::spawn_blocking(move || change_blocking(&owned, &rules, change))
        .await
        .expect("ACL thread");
    applied(bootstrap).await;
}

/// Returns once the brokers apply the ACL change. The controller answers
/// when it has committed the change; a broker's authorizer applies it
/// when it replays the metadata log, a little later. Metadata is applied
/// in log order, so a topic created after the change and seen in a
/// broker's metadata means the change is in force there too.
async fn applied(bootstrap: &str) {
    let barrier = crate::harness::unique_topic("acl-applied");
    crate::harness::create_topic(bootstrap, &barrier, 1).await;
    crate::harness::eventually(
        "the ACL change applied",
        Duration::from_secs(10),
        || async {
            (!super::metadata::partitions(bootstrap, &barrier)
                .await
                .is_empty())
            .then_some(())
        },
    )
    .await;
}

fn change_blocking(bootstrap: &str, rules: &[AclRule], change: Change) {
    let client: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let rk = client.client().native_ptr();
    let mut errstr = [0 as std::os::raw::c_char; 512];
    // SAFETY: every binding, option, queue and event is destroyed here;
    // librdkafka copies the strings, which outlive the calls anyway.
    unsafe {
        let mut bindings: Vec<*mut rdsys::rd_kafka_AclBinding_t> = rules
            .iter()
            .map(|rule| {
                let name = CString::new(rule.name.as_str()).expect("name");
                let principal = CString::new(rule.principal.as_str()).expect("principal");
                let new = match change {
                    Change::Create => rdsys::rd_kafka_AclBinding_new,
                    Change::Delete => rdsys::rd_kafka_AclBindingFilter_new,
                };
                let binding = new(
                    resource_type(&rule.resource_type),
                    name.as_ptr(),
                    pattern(&rule.pattern),
                    principal.as_ptr(),
                    c"*".as_ptr(),
                    operation(&rule.operation),
                    rdsys::rd_kafka_AclPermissionType_t::RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW,
                    errstr.as_mut_ptr(),
                    errstr.len(),
                );
                assert!(!binding.is_null(), "bad ACL {rule:?}");
                binding
            })
            .collect();
        let queue = rdsys::rd_kafka_queue_new(rk);
        let (op, call): (_, unsafe extern "C" fn(_, _, _, _, _)) = match change {
            Change::Create => (
                rdsys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATEACLS,
                rdsys::rd_kafka_CreateAcls,
            ),
            Change::Delete => (
                rdsys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETEACLS,
                rdsys::rd_kafka_DeleteAcls,
            ),
        };
        let options = rdsys::rd_kafka_AdminOptions_new(rk, op);
        call(rk, bindings.as_mut_ptr(), bindings.len(), options, queue);
        let event = rdsys::rd_kafka_queue_poll(queue, 30_000);
        assert!(!event.is_null(), "no answer to the ACL change");
        let failed = rdsys::rd_kafka_event_error(event);
        let refused = if change == Change::Create {
            refused_creations(event)
        } else {
            Vec::new()
        };
        rdsys::rd_kafka_event_destroy(event);
        rdsys::rd_kafka_AdminOptions_destroy(options);
        rdsys::rd_kafka_queue_destroy(queue);
        rdsys::rd_kafka_AclBinding_destroy_array(bindings.as_mut_ptr(), bindings.len());
        assert_eq!(
            failed,
            rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR,
            "the ACL change failed"
        );
        assert!(refused.is_empty(), "ACLs refused: {refused:?}");
    }
    let _ = client.flush(Duration::from_secs(1));
}

/// The errors of a `CreateAcls` result, one per refused rule.
///
/// # Safety
/// `event` is a live `CreateAcls` result event.
unsafe fn refused_creations(event: *mut rdsys::rd_kafka_event_t) -> Vec<String> {
    let result = rdsys::rd_kafka_event_CreateAcls_result(event);
    if result.is_null() {
        return Vec::new();
    }
    let mut count = 0usize;
    let results = rdsys::rd_kafka_CreateAcls_result_acls(result, &mut count);
    (0..count)
        .filter_map(|i| {
            let error = rdsys::rd_kafka_acl_result_error(*results.add(i));
            (!error.is_null() && rdsys::rd_kafka_error_code(error) as i32 != 0).then(|| {
                std::ffi::CStr::from_ptr(rdsys::rd_kafka_error_string(error))
                    .to_string_lossy()
                    .into_owned()
            })
        })
        .collect()
}

fn resource_type(name: &str) -> rdsys::rd_kafka_ResourceType_t {
    use rdsys::rd_kafka_ResourceType_t::*;
    match name {
        "topic" => RD_KAFKA_RESOURCE_TOPIC,
        "group" => RD_KAFKA_RESOURCE_GROUP,
        "cluster" => RD_KAFKA_RESOURCE_BROKER,
        "transactionalId" => RD_KAFKA_RESOURCE_TRANSACTIONAL_ID,
        other => panic!("unknown ACL resource type {other}"),
    }
}

fn pattern(name: &str) -> rdsys::rd_kafka_ResourcePatternType_t {
    use rdsys::rd_kafka_ResourcePatternType_t::*;
    match name {
        "literal" => RD_KAFKA_RESOURCE_PATTERN_LITERAL,
        "prefix" => RD_KAFKA_RESOURCE_PATTERN_PREFIXED,
        other => panic!("unknown ACL pattern type {other}"),
    }
}

fn operation(name: &str) -> rdsys::rd_kafka_AclOperation_t {
    use rdsys::rd_kafka_AclOperation_t::*;
    match name {
        "Read" => RD_KAFKA_ACL_OPERATION_READ,
        "Write" => RD_KAFKA_ACL_OPERATION_WRITE,
        "Create" => RD_KAFKA_ACL_OPERATION_CREATE,
        "Delete" => RD_KAFKA_ACL_OPERATION_DELETE,
        "Alter" => RD_KAFKA_ACL_OPERATION_ALTER,
        "Describe" => RD_KAFKA_ACL_OPERATION_DESCRIBE,
        "DescribeConfigs" => RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS,
        "AlterConfigs" => RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS,
        "IdempotentWrite" => RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE,
        "ClusterAction" => RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION,
        "All" => RD_KAFKA_ACL_OPERATION_ALL,
        other => panic!("unknown ACL operation {other}"),
    }
}
