//! A channel bounded in bytes as well as in items.
//!
//! Every stage of sluice hands work to the next through one of these, so a slow consumer stops the
//! producer (and, at the start of the pipeline, the reading of the replication socket) instead of
//! letting the heap grow. An item larger than the whole budget is still admitted, alone, so that
//! one huge row cannot deadlock the pipeline.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};

/// Creates a channel that holds at most `max_items` items and about `max_bytes` bytes.
pub fn channel<T>(max_items: usize, max_bytes: usize) -> (Sender<T>, Receiver<T>) {
    let max_bytes = max_bytes.clamp(1, Semaphore::MAX_PERMITS);
    let budget = Arc::new(Semaphore::new(max_bytes));
    let (tx, rx) = mpsc::channel(max_items.max(1));
    (
        Sender { inner: tx, budget: budget.clone(), max_bytes },
        Receiver { inner: rx, budget, held: Vec::new(), consumed: 0 },
    )
}

/// The sending half; cloneable.
#[derive(Debug)]
pub struct Sender<T> {
    inner: mpsc::Sender<(T, u32)>,
    budget: Arc<Semaphore>,
    max_bytes: usize,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender { inner: self.inner.clone(), budget: self.budget.clone(), max_bytes: self.max_bytes }
    }
}

/// The receiver was dropped; the item is handed back.
#[derive(Debug)]
pub struct SendError<T>(pub T);

impl<T> Sender<T> {
    /// Sends `item`, counting `size` bytes against the budget, waiting while the budget or the item
    /// count is exhausted.
    pub async fn send(&self, item: T, size: usize) -> Result<(), SendError<T>> {
        let cost = size.clamp(1, self.max_bytes).min(u32::MAX as usize) as u32;
        let Ok(permit) = self.budget.acquire_many(cost).await else {
            return Err(SendError(item));
        };
        // The permit is held (not forgotten) until the item is in the channel, so a send that is
        // cancelled while waiting for item capacity gives its bytes back.
        match self.inner.send((item, cost)).await {
            Ok(()) => {
                permit.forget();
                Ok(())
            }
            Err(mpsc::error::SendError((item, _))) => Err(SendError(item)),
        }
    }

    /// Bytes currently held in the channel or by the receiver.
    pub fn bytes_in_flight(&self) -> usize {
        self.max_bytes - self.budget.available_permits()
    }

    /// True if the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

/// The receiving half.
///
/// Received items keep their bytes charged until the receiver runs out of items it already holds,
/// so the budget also covers what the consumer is working on. The receiver takes every item that
/// is waiting in one go and gives the bytes of the consumed ones back in one go before it waits
/// again: a fast producer and a slow consumer (or the reverse) then hand work over in runs instead
/// of waking each other for every item, which on a small machine costs more than the work itself.
#[derive(Debug)]
pub struct Receiver<T> {
    inner: mpsc::Receiver<(T, u32)>,
    budget: Arc<Semaphore>,
    /// Items taken from the channel, in reverse order (the next one last).
    held: Vec<(T, u32)>,
    /// Bytes of items already handed out and not yet given back to the budget.
    consumed: usize,
}

/// Items taken from the channel at once.
const RUN: usize = 256;

impl<T> Receiver<T> {
    /// Receives the next item; `None` once every sender is gone and the channel is drained.
    pub async fn recv(&mut self) -> Option<T> {
        if self.held.is_empty() {
            self.release();
            if self.inner.recv_many(&mut self.held, RUN).await == 0 {
                return None;
            }
            self.held.reverse();
        }
        let (item, cost) = self.held.pop()?;
        self.consumed += cost as usize;
        Some(item)
    }

    fn release(&mut self) {
        if self.consumed > 0 {
            self.budget.add_permits(self.consumed);
            self.consumed = 0;
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // Wake senders blocked on the budget so they see the closed channel.
        self.budget.close();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn sender_waits_when_bytes_are_exhausted() {
        let (tx, mut rx) = channel::<u32>(100, 10);
        tx.send(1, 6).await.unwrap();
        // 6 + 6 > 10: the second send must wait until the first item is released.
        let blocked = tokio::time::timeout(Duration::from_millis(50), tx.send(2, 6)).await;
        assert!(blocked.is_err(), "send should block on the byte budget");
        assert_eq!(rx.recv().await, Some(1));
        // Still in hand until the next recv; release it by receiving with a sender ready.
        let tx2 = tx.clone();
        let sender = tokio::spawn(async move { tx2.send(2, 6).await.unwrap() });
        assert_eq!(rx.recv().await, Some(2));
        sender.await.unwrap();
        assert_eq!(tx.bytes_in_flight(), 6);
    }

    #[tokio::test]
    async fn the_receiver_takes_waiting_items_in_one_run_and_returns_their_bytes_together() {
        let (tx, mut rx) = channel::<u32>(100, 10);
        for i in 1..=3 {
            tx.send(i, 3).await.unwrap();
        }
        assert_eq!(rx.recv().await, Some(1));
        // The three items were taken at once; their 9 bytes stay charged while the receiver
        // still holds or works on them.
        let blocked = tokio::time::timeout(Duration::from_millis(30), tx.send(4, 3)).await;
        assert!(blocked.is_err(), "the bytes of held items must stay charged");
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(3));
        assert_eq!(tx.bytes_in_flight(), 9);
        // The next receive has nothing in hand: it gives the 9 bytes back, and the sender goes on.
        let sender = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(4, 3).await.unwrap() }
        });
        assert_eq!(rx.recv().await, Some(4));
        sender.await.unwrap();
        assert_eq!(tx.bytes_in_flight(), 3);
    }

    #[tokio::test]
    async fn oversized_item_is_admitted_alone() {
        let (tx, mut rx) = channel::<&str>(100, 10);
        tx.send("big", 1_000).await.unwrap();
        assert_eq!(rx.recv().await, Some("big"));
    }

    #[tokio::test]
    async fn a_cancelled_send_returns_its_bytes() {
        let (tx, mut rx) = channel::<u32>(1, 100);
        tx.send(1, 10).await.unwrap();
        // The item slot is full: this send holds 10 bytes while it waits, then is cancelled.
        let cancelled = tokio::time::timeout(Duration::from_millis(20), tx.send(2, 10)).await;
        assert!(cancelled.is_err());
        assert_eq!(tx.bytes_in_flight(), 10, "the cancelled send gave its bytes back");
        assert_eq!(rx.recv().await, Some(1));
    }

    #[tokio::test]
    async fn dropping_the_receiver_unblocks_senders() {
        let (tx, rx) = channel::<u32>(100, 4);
        tx.send(1, 4).await.unwrap();
        let pending = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(2, 4).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(rx);
        assert!(pending.await.unwrap().is_err());
    }
}
