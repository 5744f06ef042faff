//! A producer whose delivery reports are served on the tokio runtime.
//!
//! rust-rdkafka's `FutureProducer` runs a thread that polls librdkafka for
//! delivery reports and wakes each waiting task from there: per batch of
//! acknowledgements a futex wake-up of that thread, then one cross-thread
//! wake-up per waiting task. Here librdkafka wakes one task on the runtime
//! when reports land in its empty main queue (`rd_kafka_queue_cb_event_enable`),
//! and that task serves them: the thread hop is gone, and the requests waiting
//! for their acknowledgement are woken on the worker that serves the reports.
//! Without a runtime at construction a thread serves them, as before.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use rdkafka::bindings as rdsys;
use rdkafka::client::{Client, ClientContext};
use rdkafka::config::{FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, ToBytes};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, FutureRecord, Producer, ProducerContext,
};
use rdkafka::ClientConfig;
use tokio::sync::{oneshot, Notify};

use super::log::{route_error, route_log};

/// Where an acknowledged record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acked {
    /// Partition written.
    pub partition: i32,
    /// Offset of the record.
    pub offset: i64,
}

/// The broker's answer for one record.
pub type Ack = Result<Acked, KafkaError>;

/// How long the serving task sleeps at most without a wake-up: a safety net
/// under librdkafka's empty-to-non-empty report.
const SERVE_AT_LEAST_EVERY: Duration = Duration::from_millis(100);

/// Routes librdkafka's logs and errors, and hands each delivery report to
/// the task waiting for it.
struct AckContext {
    /// Events served so far (delivery reports, errors, log lines,
    /// statistics): the serving task polls until a poll serves nothing.
    /// Every event the main queue carries must count, or one left at the
    /// head of the queue would stop the serving and hold the reports behind
    /// it until the safety net.
    served: AtomicU64,
}

impl ClientContext for AckContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        self.served.fetch_add(1, Ordering::Relaxed);
        route_log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.served.fetch_add(1, Ordering::Relaxed);
        route_error(error, reason);
    }

    /// Statistics arrive only when an operator sets
    /// `statistics.interval.ms`; producers publish none, so they are dropped.
    fn stats_raw(&self, _statistics: &[u8]) {
        self.served.fetch_add(1, Ordering::Relaxed);
    }
}

impl ProducerContext for AckContext {
    type DeliveryOpaque = Box<oneshot::Sender<Ack>>;

    fn delivery(&self, result: &DeliveryResult<'_>, waiting: Self::DeliveryOpaque) {
        self.served.fetch_add(1, Ordering::Relaxed);
        let ack = match result {
            Ok(message) => Ok(Acked {
                partition: message.partition(),
                offset: message.offset(),
            }),
            Err((error, _)) => Err(error.clone()),
        };
        // The requester may have given up (its deadline passed).
        let _ = waiting.send(ack);
    }
}

type Base = BaseProducer<AckContext>;

/// An idempotent producer as configured, with its delivery reports served
/// on the runtime it was built on (see the module docs).
pub struct AckedProducer {
    producer: Arc<Base>,
    wake: MainQueueWake,
    server: Server,
    /// Whether [`AckedProducer::warm_up`] has been done.
    warm: AtomicBool,
}

/// Who serves the delivery reports.
enum Server {
    Task(tokio::task::AbortHandle),
    Thread(Arc<AtomicBool>),
}

impl AckedProducer {
    /// Builds the producer from `config` and starts serving its reports.
    pub fn new(config: &ClientConfig) -> Result<Self, KafkaError> {
        Self::serving_at_least_every(config, SERVE_AT_LEAST_EVERY)
    }

    /// As [`AckedProducer::new`], the serving task looking at the queue at
    /// least every `interval` even without a wake-up.
    fn serving_at_least_every(
        config: &ClientConfig,
        interval: Duration,
    ) -> Result<Self, KafkaError> {
        let context = AckContext {
            served: AtomicU64::new(0),
        };
        let producer = Arc::new(Base::from_config_and_context(config, context)?);
        let notify = Arc::new(Notify::new());
        let wake = MainQueueWake::enable(producer.client(), notify.clone());
        let weak = Arc::downgrade(&producer);
        let server = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                Server::Task(runtime.spawn(serve(weak, notify, interval)).abort_handle())
            }
            Err(_) => {
                let stop = Arc::new(AtomicBool::new(false));
                let stopped = stop.clone();
                std::thread::Builder::new()
                    .name("producer-acks".into())
                    .spawn(move || serve_on_thread(weak, &stopped, interval))
                    .map_err(|_| {
                        KafkaError::ClientCreation("no thread for delivery reports".into())
                    })?;
                Server::Thread(stop)
            }
        };
        Ok(Self {
            producer,
            wake,
            server,
            warm: AtomicBool::new(false),
        })
    }

    /// Gets the producer ready to write without waiting (blocking), once the
    /// broker has answered a metadata request for `topics`: asks again, so
    /// that the idempotent producer asks for its producer id now. Done once
    /// per producer; later calls return at once.
    ///
    /// librdkafka asks for the id when a metadata answer arrives while a
    /// broker it learned is connected, and otherwise on a 500 ms timer. The
    /// first answer comes through the bootstrap connection, which librdkafka
    /// drops once it knows the brokers' ids, so at that moment none is
    /// connected and a record sent then waits for the timer (the first 202 of
    /// a fresh gateway took ~440 ms in 3 starts of 10; BENCHMARKS.md). A
    /// second request has to connect to a learned broker, and its answer asks
    /// for the id at once.
    pub fn warm_up(&self, topics: &[String], timeout: Duration) -> Result<(), String> {
        if self.warm.load(Ordering::Relaxed) {
            return Ok(());
        }
        super::metadata::require_topics(self.client(), topics, timeout)?;
        self.warm.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Queues `record`; the receiver resolves with the broker's answer.
    pub fn send<K, P>(
        &self,
        record: FutureRecord<'_, K, P>,
    ) -> Result<oneshot::Receiver<Ack>, KafkaError>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let (waiting, ack) = oneshot::channel();
        let base = BaseRecord {
            topic: record.topic,
            partition: record.partition,
            payload: record.payload,
            key: record.key,
            timestamp: record.timestamp,
            headers: record.headers,
            delivery_opaque: Box::new(waiting),
        };
        match self.producer.send(base) {
            Ok(()) => Ok(ack),
            Err((error, _)) => Err(error),
        }
    }

    /// The librdkafka client (metadata, fatal errors).
    pub fn client(&self) -> &Client<impl ClientContext> {
        self.producer.client()
    }

    /// Waits (blocking) until everything queued is acknowledged or `timeout` passes.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.flush(timeout)
    }

    /// Records queued or in flight, not yet reported.
    pub fn in_flight_count(&self) -> i32 {
        self.producer.in_flight_count()
    }
}

impl Drop for AckedProducer {
    fn drop(&mut self) {
        // Before the producer closes: no report may wake a task that is
        // gone, and the queue handle must go before the client does.
        self.wake.disable();
        match &self.server {
            Server::Task(task) => task.abort(),
            Server::Thread(stop) => stop.store(true, Ordering::Relaxed),
        }
        // Dropping `producer` then purges what is left and serves those
        // reports itself (rust-rdkafka's drop), unless the serving task
        // holds it for a moment longer.
    }
}

/// Serves delivery reports whenever librdkafka says some arrived. It serves
/// first: events queued before the wake-up was enabled (log lines of the
/// client's start) would otherwise never see the queue go from empty.
async fn serve(producer: Weak<Base>, notify: Arc<Notify>, interval: Duration) {
    loop {
        let Some(strong) = producer.upgrade() else {
            return;
        };
        serve_ready(&strong);
        drop(strong);
        let _ = tokio::time::timeout(interval, notify.notified()).await;
    }
}

/// Serves delivery reports on a thread, for a producer built outside a runtime.
fn serve_on_thread(producer: Weak<Base>, stop: &AtomicBool, interval: Duration) {
    while !stop.load(Ordering::Relaxed) {
        let Some(producer) = producer.upgrade() else {
            return;
        };
        producer.poll(interval);
    }
}

/// Polls without waiting until a poll serves nothing: the wake-up comes only
/// when the queue was empty, so it is emptied each time.
fn serve_ready(producer: &Base) {
    loop {
        let before = producer.context().served.load(Ordering::Relaxed);
        producer.poll(Duration::ZERO);
        if producer.context().served.load(Ordering::Relaxed) == before {
            return;
        }
    }
}

/// librdkafka's wake-up on the producer's main queue (where delivery reports
/// land), calling [`Notify::notify_one`] from librdkafka's thread when an
/// empty queue gets an event.
struct MainQueueWake {
    queue: *mut rdsys::rd_kafka_queue_t,
    notify: Arc<Notify>,
}

// SAFETY: the queue handle is only used to enable and disable the wake-up,
// which librdkafka does under the queue's lock, from any thread.
unsafe impl Send for MainQueueWake {}
unsafe impl Sync for MainQueueWake {}

impl MainQueueWake {
    fn enable(client: &Client<AckContext>, notify: Arc<Notify>) -> Self {
        // SAFETY: the client is alive; the handle is destroyed in `disable`,
        // before the client (see `AckedProducer`'s drop). The opaque points
        // into `notify`, which lives as long as `self`, and the callback is
        // removed in `disable` before `self` (and `notify`) can go.
        unsafe {
            let queue = rdsys::rd_kafka_queue_get_main(client.native_ptr());
            let opaque = Arc::as_ptr(&notify) as *mut c_void;
            rdsys::rd_kafka_queue_cb_event_enable(queue, Some(wake_task), opaque);
            Self { queue, notify }
        }
    }

    fn disable(&mut self) {
        if self.queue.is_null() {
            return;
        }
        // SAFETY: librdkafka removes the callback under the queue's lock, so
        // none runs once this returns; the handle is not used again.
        unsafe {
            rdsys::rd_kafka_queue_cb_event_enable(self.queue, None, std::ptr::null_mut());
            rdsys::rd_kafka_queue_destroy(self.queue);
        }
        self.queue = std::ptr::null_mut();
        // Whoever waits is told to look once more (and finds it closing).
        self.notify.notify_one();
    }
}

impl Drop for MainQueueWake {
    fn drop(&mut self) {
        self.disable();
    }
}

/// librdkafka's callback: runs on its thread, under the queue's lock, so it
/// only wakes the serving task.
unsafe extern "C" fn wake_task(_: *mut rdsys::rd_kafka_t, opaque: *mut c_void) {
    // SAFETY: `opaque` is the `Notify` kept alive by `MainQueueWake` until
    // the callback is removed.
    let notify = unsafe { &*(opaque as *const Notify) };
    notify.notify_one();
}

#[cfg(test)]
mod tests;
