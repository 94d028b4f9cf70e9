//! Which caller positions are durable in Kafka: delivery acknowledgements turned into marks.
//!
//! The producer numbers every record it hands to librdkafka (`seq` 0, 1, 2, ...). The caller drops
//! a *mark* (its own position, e.g. a commit LSN) after the records that belong before it; the
//! mark is complete once every record numbered below it is acknowledged by the brokers (acks=all).
//! Acknowledgements arrive in order per partition but in any order across partitions, so the
//! tracker keeps a watermark (every `seq` below it acknowledged) and a ring of flags for
//! acknowledgements just above it: O(1) per delivery, no allocation once the ring has grown to
//! the in-flight window. The first failed delivery is sticky: no mark after it can ever complete,
//! and the caller restarts from its last durable position.

use std::collections::VecDeque;
use std::fmt;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::error::KafkaError;

/// Shared between the sender, the producer's delivery callback and the caller waiting for marks.
pub struct DeliveryTracker<M> {
    shared: Arc<Shared<M>>,
}

struct Shared<M> {
    state: Mutex<State<M>>,
    /// Woken when a mark completes or the first error arrives.
    changed: Notify,
    /// Set with the first error, readable without the lock.
    failed: AtomicBool,
}

struct State<M> {
    /// The number the next record gets.
    next_seq: u64,
    /// Every record numbered below this is acknowledged.
    acked_below: u64,
    /// `ahead[i]`: record `acked_below + i` is acknowledged (out of order, across partitions).
    ahead: VecDeque<bool>,
    /// How many flags in `ahead` are set.
    acked_ahead: u64,
    /// Caller positions in order, each with the number of records sent before it.
    marks: VecDeque<(u64, M)>,
    /// The first delivery error.
    error: Option<KafkaError>,
    /// When a record was last acknowledged (or the tracker created): stall detection.
    last_ack: std::time::Instant,
}

impl<M> Clone for DeliveryTracker<M> {
    fn clone(&self) -> Self {
        DeliveryTracker { shared: Arc::clone(&self.shared) }
    }
}

impl<M> Default for DeliveryTracker<M> {
    fn default() -> Self {
        DeliveryTracker {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    next_seq: 0,
                    acked_below: 0,
                    ahead: VecDeque::new(),
                    acked_ahead: 0,
                    marks: VecDeque::new(),
                    error: None,
                    last_ack: std::time::Instant::now(),
                }),
                changed: Notify::new(),
                failed: AtomicBool::new(false),
            }),
        }
    }
}

impl<M> DeliveryTracker<M> {
    fn lock(&self) -> MutexGuard<'_, State<M>> {
        self.shared.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<M> fmt::Debug for DeliveryTracker<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("DeliveryTracker")
            .field("sent", &st.next_seq)
            .field("acked_below", &st.acked_below)
            .field("acked_ahead", &st.acked_ahead)
            .field("marks", &st.marks.len())
            .field("error", &st.error)
            .finish()
    }
}

impl<M: Send + 'static> DeliveryTracker<M> {
    /// A tracker with nothing sent.
    pub fn new() -> Self {
        Self::default()
    }

    /// Attaches `position` after every record sent so far; [`Self::delivered_marks`] returns it
    /// once all of them are acknowledged (at once if there are none in flight).
    pub fn mark(&self, position: M) {
        let mut st = self.lock();
        let end = st.next_seq;
        let complete = end <= st.acked_below;
        // No record sent since the previous mark: the new one replaces it (marks stay bounded by
        // records in flight, not by the source's transaction rate).
        if let Some(last) = st.marks.back_mut()
            && last.0 == end
        {
            last.1 = position;
        } else {
            st.marks.push_back((end, position));
        }
        drop(st);
        if complete {
            self.shared.changed.notify_waiters();
        }
    }

    /// Waits until at least one mark is complete and returns every complete mark, oldest first.
    /// After a delivery failure, marks that completed before it are still returned first; then
    /// every call returns the first error. Cancel-safe (marks are only taken when it returns), so
    /// it can be one branch of a `select!`.
    pub async fn delivered_marks(&self) -> Result<Vec<M>, KafkaError> {
        loop {
            let mut changed = pin!(self.shared.changed.notified());
            changed.as_mut().enable();
            {
                let mut st = self.lock();
                let mut done = Vec::new();
                while st.marks.front().is_some_and(|(end, _)| *end <= st.acked_below) {
                    if let Some((_, m)) = st.marks.pop_front() {
                        done.push(m);
                    }
                }
                if !done.is_empty() {
                    return Ok(done);
                }
                if let Some(e) = &st.error {
                    return Err(e.clone());
                }
            }
            changed.await;
        }
    }

    /// Records sent and not yet acknowledged (failed records stay counted: they never will be).
    pub fn in_flight(&self) -> u64 {
        let st = self.lock();
        st.next_seq - st.acked_below - st.acked_ahead
    }

    /// How long records have been in flight without any acknowledgement (zero when none are in
    /// flight): what a stall watchdog compares with its timeout.
    pub fn unacknowledged_for(&self) -> std::time::Duration {
        let st = self.lock();
        if st.next_seq == st.acked_below + st.acked_ahead {
            std::time::Duration::ZERO
        } else {
            st.last_ack.elapsed()
        }
    }

    /// The first delivery error, if any.
    pub fn failure(&self) -> Option<KafkaError> {
        if !self.shared.failed.load(Ordering::Acquire) {
            return None;
        }
        self.lock().error.clone()
    }

    /// Numbers the next record; the producer passes it to librdkafka as the delivery opaque.
    pub(crate) fn next_seq(&self) -> u64 {
        let mut st = self.lock();
        let seq = st.next_seq;
        if st.next_seq == st.acked_below + st.acked_ahead {
            // Nothing was in flight: the wait for an acknowledgement starts now.
            st.last_ack = std::time::Instant::now();
        }
        st.next_seq += 1;
        seq
    }

    /// Fails the tracker without a particular record (the producer became unusable).
    pub(crate) fn fail(&self, error: KafkaError) {
        let mut st = self.lock();
        if st.error.is_none() {
            let purged = matches!(
                error.code(),
                Some(
                    rdkafka::error::RDKafkaErrorCode::PurgeQueue
                        | rdkafka::error::RDKafkaErrorCode::PurgeInflight
                )
            );
            if purged {
                // The producer is being dropped with records outstanding: a shutdown, not a failure.
                tracing::debug!(error = %error, "unacknowledged records purged");
            } else {
                tracing::warn!(error = %error, "Kafka delivery failed; no later position will be confirmed");
            }
            st.error = Some(error);
            self.shared.failed.store(true, Ordering::Release);
        }
        drop(st);
        self.shared.changed.notify_waiters();
    }

    /// The delivery report of record `seq`: its partition and offset, or why it failed.
    pub(crate) fn delivered(&self, seq: u64, result: Result<(i32, i64), KafkaError>) {
        let mut st = self.lock();
        debug_assert!(seq < st.next_seq, "delivery of a record never numbered");
        match result {
            Ok(_) => {
                if seq < st.acked_below {
                    return; // reported twice; already counted
                }
                let index = usize::try_from(seq - st.acked_below).unwrap_or(usize::MAX);
                if index >= st.ahead.len() {
                    st.ahead.resize(index + 1, false);
                }
                if st.ahead[index] {
                    return;
                }
                st.ahead[index] = true;
                st.last_ack = std::time::Instant::now();
                st.acked_ahead += 1;
                while st.ahead.front() == Some(&true) {
                    st.ahead.pop_front();
                    st.acked_ahead -= 1;
                    st.acked_below += 1;
                }
                let completes = st.marks.front().is_some_and(|(end, _)| *end <= st.acked_below);
                drop(st);
                if completes {
                    self.shared.changed.notify_waiters();
                }
            }
            Err(e) => {
                drop(st);
                self.fail(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rdkafka::error::{KafkaError as ClientError, RDKafkaErrorCode};

    use super::*;

    fn send(t: &DeliveryTracker<&'static str>, n: usize) -> Vec<u64> {
        (0..n).map(|_| t.next_seq()).collect()
    }

    async fn ready(t: &DeliveryTracker<&'static str>) -> Option<Result<Vec<&'static str>, KafkaError>> {
        tokio::time::timeout(Duration::from_millis(20), t.delivered_marks()).await.ok()
    }

    #[tokio::test]
    async fn marks_complete_only_when_everything_before_them_is_acknowledged() {
        let t = DeliveryTracker::new();
        let s = send(&t, 3);
        t.mark("a");
        let s2 = send(&t, 2);
        t.mark("b");
        assert_eq!(t.in_flight(), 5);
        // Acknowledged out of order across partitions: 1, 2, 4 first.
        t.delivered(s[1], Ok((1, 0)));
        t.delivered(s[2], Ok((2, 0)));
        t.delivered(s2[1], Ok((1, 1)));
        assert!(ready(&t).await.is_none());
        assert_eq!(t.in_flight(), 2);
        t.delivered(s[0], Ok((0, 0)));
        assert_eq!(ready(&t).await.unwrap().unwrap(), vec!["a"]);
        t.delivered(s2[0], Ok((0, 1)));
        assert_eq!(ready(&t).await.unwrap().unwrap(), vec!["b"]);
        assert_eq!(t.in_flight(), 0);
        // A mark with nothing in flight is complete at once; a mark with no record sent since the
        // previous one replaces it (it completes at the same moment).
        t.mark("c");
        t.mark("d");
        assert_eq!(ready(&t).await.unwrap().unwrap(), vec!["d"]);
        let s3 = send(&t, 1);
        t.mark("e");
        t.mark("f");
        let _ = send(&t, 1);
        t.mark("g");
        t.delivered(s3[0], Ok((0, 2)));
        assert_eq!(ready(&t).await.unwrap().unwrap(), vec!["f"], "g waits for its own record");
    }

    #[tokio::test]
    async fn a_waiting_caller_is_woken_by_the_acknowledgement() {
        let t = DeliveryTracker::new();
        let s = send(&t, 1);
        t.mark("a");
        let t2 = t.clone();
        let waiter = tokio::spawn(async move { t2.delivered_marks().await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        t.delivered(s[0], Ok((0, 7)));
        let got = tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap().unwrap();
        assert_eq!(got, vec!["a"]);
    }

    #[tokio::test]
    async fn the_first_error_is_sticky_after_the_marks_completed_before_it() {
        let t = DeliveryTracker::new();
        let s = send(&t, 1);
        t.mark("a");
        let s2 = send(&t, 2);
        t.mark("b");
        t.delivered(s[0], Ok((0, 0)));
        let err = |code| KafkaError::Client {
            context: "delivering to topic 't'".into(),
            source: ClientError::MessageProduction(code),
        };
        t.delivered(s2[0], Err(err(RDKafkaErrorCode::TopicAuthorizationFailed)));
        t.delivered(s2[1], Err(err(RDKafkaErrorCode::MessageTimedOut)));
        assert!(t.failure().is_some());
        assert_eq!(ready(&t).await.unwrap().unwrap(), vec!["a"]);
        for _ in 0..2 {
            let e = ready(&t).await.unwrap().unwrap_err();
            assert_eq!(e.code(), Some(RDKafkaErrorCode::TopicAuthorizationFailed));
        }
    }

    #[test]
    fn the_ring_does_not_grow_past_the_in_flight_window() {
        let t: DeliveryTracker<u64> = DeliveryTracker::new();
        let mut pending = VecDeque::new();
        for i in 0..10_000u64 {
            pending.push_back(t.next_seq());
            if pending.len() == 64 {
                // Acknowledge the window in reverse order (worst case for the ring).
                while let Some(seq) = pending.pop_back() {
                    t.delivered(seq, Ok((0, 0)));
                }
                t.mark(i);
            }
        }
        let st = t.lock();
        assert!(st.ahead.capacity() < 256, "{}", st.ahead.capacity());
        assert_eq!(st.acked_below + pending.len() as u64, st.next_seq);
    }
}
