//! A plan as the operator reads it: a table with the warnings, or one JSON
//! object (`--json`).

use super::{Action, Plan};

/// Renders the plan as a heading, warnings and a table.
pub fn table(plan: &Plan) -> String {
    let mut out = format!(
        "group {}: {} partitions, replication factor {}, min.insync.replicas {}\n",
        plan.group, plan.partitions, plan.replication_factor, plan.min_insync_replicas
    );
    for warning in &plan.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    let mut rows = vec![vec![
        "TOPIC".to_owned(),
        "PARTITIONS".into(),
        "CONFIG (at creation)".into(),
        "ACTION".into(),
    ]];
    for topic in &plan.topics {
        let configs = topic
            .spec
            .configs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let (partitions, action) = match topic.action {
            Action::Create => (plan.partitions, "create".to_owned()),
            Action::Keep => (plan.partitions, "exists, kept as it is".to_owned()),
            Action::Refuse { actual } => (
                actual,
                format!(
                    "REFUSED: has {actual} partitions, the plan {}",
                    plan.partitions
                ),
            ),
        };
        rows.push(vec![
            topic.spec.name.clone(),
            partitions.to_string(),
            configs,
            action,
        ]);
    }
    out.push_str(&crate::ops::table(&rows));
    out
}

/// Renders the plan as one JSON object, with what was done (`executed`:
/// whether `--execute` created the `create` topics).
pub fn json(plan: &Plan, executed: bool) -> String {
    let mut value = serde_json::to_value(plan).unwrap_or_default();
    value["executed"] = executed.into();
    value.to_string()
}
