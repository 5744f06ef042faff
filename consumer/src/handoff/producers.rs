//! The two producers hand-offs are written with: hops (and their pointers),
//! which a partition waits on, with a short linger; and delivered markers,
//! which nothing waits on, with a longer one, so that a busy member writes
//! its markers in few, full batches (each produce request costs the broker
//! more than the small markers in it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use switchboard_runtime::kafka::{KafkaSettings, RebuildPolicy, ReplaceableProducer};

use crate::config::ConsumerConfig;

/// The hand-off producers (see the module docs).
pub struct Producers {
    hops: Arc<ReplaceableProducer>,
    markers: Arc<ReplaceableProducer>,
}

impl Producers {
    /// Both producers, from the consumer's configuration.
    pub fn new(config: &ConsumerConfig) -> Result<Self, KafkaError> {
        Self::with(&config.producer_kafka, &config.marker_kafka)
    }

    /// Both producers, from their settings.
    pub fn with(hops: &KafkaSettings, markers: &KafkaSettings) -> Result<Self, KafkaError> {
        Ok(Self {
            hops: replaceable("hand-off", hops)?,
            markers: replaceable("marker", markers)?,
        })
    }

    /// The producer of hops and pointers.
    pub fn hops(&self) -> &ReplaceableProducer {
        &self.hops
    }

    /// The producer of delivered markers.
    pub fn markers(&self) -> &Arc<ReplaceableProducer> {
        &self.markers
    }

    /// Both, to supervise.
    pub fn each(&self) -> [Arc<ReplaceableProducer>; 2] {
        [self.hops.clone(), self.markers.clone()]
    }

    /// Whether both can write, as the last supervision found.
    pub fn health(&self) -> Result<(), String> {
        self.hops.health()?;
        self.markers.health()
    }

    /// Waits, within `bound` in all, until everything both producers hold is
    /// acknowledged (markers first: they linger longest).
    pub fn flush(&self, bound: Duration) -> Result<(), KafkaError> {
        let until = Instant::now() + bound;
        let markers = self.markers.flush(bound);
        let hops = self
            .hops
            .flush(until.saturating_duration_since(Instant::now()));
        markers.and(hops)
    }
}

/// A producer built from `settings`, replaced by the runtime's standard
/// policy when it breaks or stalls.
pub fn replaceable(
    name: &'static str,
    settings: &KafkaSettings,
) -> Result<Arc<ReplaceableProducer>, KafkaError> {
    ReplaceableProducer::new(
        name,
        settings,
        RebuildPolicy::standard(settings),
        crate::metrics::PRODUCER_REBUILDS,
    )
    .map(Arc::new)
}
