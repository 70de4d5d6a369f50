//! A writer's saves and commits, handed as they happen to an online compaction of the
//! same file in this process.
//!
//! Why: with a fair lock, every hold of the engine's lock begins just after the flusher
//! committed a batch that no reader of the file could see before, so a compactor that
//! reads only the file must replay at least one whole commit under the lock. Told of
//! the batch by the writer's own handle while the flusher is still writing it, the
//! compactor applies it beforehand (see `compact::follow`) and finds nothing left to
//! replay when it gets the lock.
//!
//! The writer never waits for the compactor: events go into a bounded queue, and when
//! it is full they are dropped and the compactor is told that some were lost. A handle
//! publishes only while a compaction subscribed to its file ([`Subscription`]); then a
//! save costs it a copy of the doc infos and stored bodies.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::file::FileIdentity;

/// One document of a [`SavedBatch`]: its doc info without the variable parts, which
/// lie in the batch's `bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FedDoc {
    /// Sequence number it was stored with.
    pub db_seq: u64,
    /// Revision number.
    pub rev_seq: u64,
    /// Disk space the stored body occupies in the writer's file.
    pub physical_size: u64,
    /// Length of the id in `bytes`.
    pub id_len: u32,
    /// Length of the revision metadata, after the id.
    pub meta_len: u32,
    /// Length of the stored body, after the metadata (None: no body).
    pub body_len: Option<u32>,
    /// Whether this is a deletion.
    pub deleted: bool,
    /// Content meta flags.
    pub content_meta: u8,
}

/// One save of a writer, as it stores it: the doc infos (sequence numbers assigned)
/// and the bodies as stored (compressed if the writer compressed them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedBatch {
    /// The handle that saved it.
    pub writer: u64,
    /// Position of the header the writer's changes were based on.
    pub base: u64,
    /// How many saves the writer made on that header before this one.
    pub index: u32,
    /// The writer's update sequence after this save.
    pub update_seq: u64,
    /// The documents, in the order the writer was given them.
    pub docs: Vec<FedDoc>,
    /// Each document's id, revision metadata and stored body, back to back.
    pub bytes: Vec<u8>,
}

/// Where a document's parts lie in its batch's `bytes`: id, metadata, body (None: no
/// body).
pub type DocRanges = (Range<usize>, Range<usize>, Option<Range<usize>>);

impl SavedBatch {
    /// Each document with where its id, metadata and body lie in `bytes`.
    pub fn ranges(&self) -> impl Iterator<Item = (&FedDoc, DocRanges)> {
        let mut at = 0usize;
        self.docs.iter().map(move |d| {
            let mut take = |n: u32| {
                let r = at..at + n as usize;
                at = r.end;
                r
            };
            let id = take(d.id_len);
            let meta = take(d.meta_len);
            let body = d.body_len.map(take);
            (d, (id, meta, body))
        })
    }

    /// Each document with its id, metadata and body (None: no body).
    pub fn iter(&self) -> impl Iterator<Item = (&FedDoc, &[u8], &[u8], Option<&[u8]>)> {
        self.ranges().map(|(d, (id, meta, body))| {
            let b = &self.bytes;
            (d, &b[id], &b[meta], body.map(|r| &b[r]))
        })
    }
}

/// A writer's successful commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FedCommit {
    /// The handle that committed.
    pub writer: u64,
    /// The header its changes were based on.
    pub base: u64,
    /// The header it wrote.
    pub pos: u64,
    /// That header's update sequence.
    pub update_seq: u64,
    /// How many saves it made on `base` (all in this commit).
    pub saves: u32,
}

/// What a writer did, in the order it did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedEvent {
    /// A save (not yet committed).
    Saved(SavedBatch),
    /// A commit of the saves made on its base header.
    Committed(FedCommit),
    /// The writer gave up saves it told of: all it saved since its header (a failed
    /// commit, a seek, a close), or a failed save (which keeps the saves before it).
    /// Its next save or commit tells where it is.
    Discarded {
        /// The handle.
        writer: u64,
    },
    /// Events were dropped here because the queue was full.
    Lost,
}

impl FeedEvent {
    fn bytes(&self) -> usize {
        match self {
            FeedEvent::Saved(b) => {
                b.bytes.len() + b.docs.len() * std::mem::size_of::<FedDoc>() + 64
            }
            _ => 64,
        }
    }
}

/// The queue between the writers of one file and the compaction following them.
#[derive(Debug)]
pub struct Feed {
    queue: Mutex<Queue>,
    ready: Condvar,
}

#[derive(Debug)]
struct Queue {
    events: VecDeque<FeedEvent>,
    bytes: usize,
    limit: usize,
    /// Events were dropped since the follower last emptied the queue.
    lost: bool,
    /// The follower asked [`Subscription::next_until_stopped`] to return once the queue
    /// is empty.
    stop: bool,
    /// Buffers the follower is done with, for the writer's next batch.
    spare: Vec<Vec<u8>>,
}

/// Subscriptions alive: a writer looks for a feed only when there is one.
static SUBSCRIBED: AtomicUsize = AtomicUsize::new(0);
static FEEDS: Mutex<Vec<(FileIdentity, Arc<Feed>)>> = Mutex::new(Vec::new());

/// The feed of the file `identity`, when a compaction follows it.
pub(crate) fn feed_for(identity: Option<FileIdentity>) -> Option<Arc<Feed>> {
    if SUBSCRIBED.load(Ordering::Acquire) == 0 {
        return None;
    }
    let identity = identity?;
    FEEDS
        .lock()
        .iter()
        .find(|(id, _)| *id == identity)
        .map(|(_, f)| f.clone())
}

impl Feed {
    /// Whether an event published now would be kept (not while events are being
    /// dropped): a writer builds a batch's event only then.
    pub(crate) fn wants(&self) -> bool {
        !self.queue.lock().lost
    }

    /// An empty buffer for a batch's bytes, reused when the follower gave one back.
    pub(crate) fn buffer(&self) -> Vec<u8> {
        self.queue.lock().spare.pop().unwrap_or_default()
    }

    /// Adds an event, or drops it (and every later one until the follower has emptied
    /// the queue) when the queue is full. Never waits for the follower.
    pub(crate) fn publish(&self, event: FeedEvent) {
        let mut q = self.queue.lock();
        let size = event.bytes();
        if q.lost || q.bytes + size > q.limit {
            q.lost = true;
        } else {
            q.bytes += size;
            q.events.push_back(event);
        }
        drop(q);
        self.ready.notify_one();
    }
}

/// A compaction's subscription to the saves and commits of its source's writers in this
/// process. Dropping it ends the subscription.
#[derive(Debug)]
pub struct Subscription {
    identity: FileIdentity,
    feed: Arc<Feed>,
}

impl Subscription {
    /// Subscribes to the file `identity`, keeping at most `limit` bytes of events
    /// queued. None when another subscription to that file is alive.
    pub fn new(identity: FileIdentity, limit: usize) -> Option<Subscription> {
        let mut feeds = FEEDS.lock();
        if feeds.iter().any(|(id, _)| *id == identity) {
            return None;
        }
        let feed = Arc::new(Feed {
            queue: Mutex::new(Queue {
                events: VecDeque::new(),
                bytes: 0,
                limit,
                lost: false,
                stop: false,
                spare: Vec::new(),
            }),
            ready: Condvar::new(),
        });
        feeds.push((identity, feed.clone()));
        SUBSCRIBED.fetch_add(1, Ordering::AcqRel);
        Some(Subscription { identity, feed })
    }

    /// The next event, if one is queued; [`FeedEvent::Lost`] once the queue is empty
    /// after events were dropped.
    pub fn try_next(&self) -> Option<FeedEvent> {
        let mut q = self.feed.queue.lock();
        Self::pop(&mut q)
    }

    /// The next event, waiting up to `timeout` for one.
    pub fn next_within(&self, timeout: Duration) -> Option<FeedEvent> {
        let mut q = self.feed.queue.lock();
        if q.events.is_empty() && !q.lost {
            self.feed.ready.wait_for(&mut q, timeout);
        }
        Self::pop(&mut q)
    }

    /// The next event, waiting for one until [`Subscription::stop`] is called; then
    /// what is still queued, and None once the queue is empty. Clears the stop when it
    /// returns None.
    pub fn next_until_stopped(&self) -> Option<FeedEvent> {
        let mut q = self.feed.queue.lock();
        loop {
            if let Some(event) = Self::pop(&mut q) {
                return Some(event);
            }
            if q.stop {
                q.stop = false;
                return None;
            }
            self.feed.ready.wait(&mut q);
        }
    }

    /// Makes [`Subscription::next_until_stopped`] return once the queue is empty.
    pub fn stop(&self) {
        self.stopper().stop();
    }

    /// What stops [`Subscription::next_until_stopped`] from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            feed: self.feed.clone(),
        }
    }

    /// Whether a stop was asked for and [`Subscription::next_until_stopped`] has not yet
    /// returned None for it.
    pub fn stopping(&self) -> bool {
        self.feed.queue.lock().stop
    }

    /// Gives a batch's buffer back for the writer's next one.
    pub fn recycle(&self, mut bytes: Vec<u8>) {
        const KEPT: usize = 4;
        bytes.clear();
        let mut q = self.feed.queue.lock();
        if q.spare.len() < KEPT {
            q.spare.push(bytes);
        }
    }

    /// Events queued now.
    pub fn queued(&self) -> usize {
        self.feed.queue.lock().events.len()
    }

    fn pop(q: &mut Queue) -> Option<FeedEvent> {
        match q.events.pop_front() {
            Some(event) => {
                q.bytes -= event.bytes();
                Some(event)
            }
            None if q.lost => {
                q.lost = false;
                Some(FeedEvent::Lost)
            }
            None => None,
        }
    }
}

/// Stops a [`Subscription`]'s [`Subscription::next_until_stopped`] from another thread.
#[derive(Debug, Clone)]
pub struct Stopper {
    feed: Arc<Feed>,
}

impl Stopper {
    /// See [`Subscription::stop`].
    pub fn stop(&self) {
        self.feed.queue.lock().stop = true;
        self.feed.ready.notify_all();
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut feeds = FEEDS.lock();
        feeds.retain(|(id, f)| !(*id == self.identity && Arc::ptr_eq(f, &self.feed)));
        SUBSCRIBED.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> FileIdentity {
        FileIdentity {
            device: 7,
            inode: n,
        }
    }

    fn discarded(n: u64) -> FeedEvent {
        FeedEvent::Discarded { writer: n }
    }

    #[test]
    fn one_subscription_per_file_and_writers_find_it() {
        let file = id(1001);
        assert!(feed_for(Some(file)).is_none());
        let sub = Subscription::new(file, 1 << 20).unwrap();
        assert!(Subscription::new(file, 1 << 20).is_none());
        let feed = feed_for(Some(file)).expect("subscribed");
        assert!(feed_for(Some(id(1002))).is_none());
        assert!(feed_for(None).is_none());
        feed.publish(discarded(1));
        assert_eq!(sub.try_next(), Some(discarded(1)));
        assert_eq!(sub.try_next(), None);
        drop(sub);
        assert!(feed_for(Some(file)).is_none());
        // The feed a writer still holds goes nowhere and costs nothing.
        feed.publish(discarded(2));
        assert!(Subscription::new(file, 1 << 20).is_some());
    }

    #[test]
    fn a_full_queue_drops_events_and_says_so_after_the_kept_ones() {
        let sub = Subscription::new(id(1003), 200).unwrap();
        let feed = feed_for(Some(id(1003))).unwrap();
        for n in 0..5 {
            feed.publish(discarded(n));
        }
        assert!(!feed.wants());
        assert_eq!(sub.try_next(), Some(discarded(0)));
        assert_eq!(sub.try_next(), Some(discarded(1)));
        assert_eq!(sub.try_next(), Some(discarded(2)));
        // Dropping goes on until the follower has seen the loss, even with room again.
        feed.publish(discarded(9));
        assert_eq!(sub.try_next(), Some(FeedEvent::Lost));
        assert!(feed.wants());
        feed.publish(discarded(10));
        assert_eq!(sub.try_next(), Some(discarded(10)));
        assert_eq!(sub.try_next(), None);
    }

    #[test]
    fn a_stopped_follower_gets_what_is_queued_then_none() {
        let sub = Subscription::new(id(1004), 1 << 20).unwrap();
        let feed = feed_for(Some(id(1004))).unwrap();
        std::thread::scope(|s| {
            let got = s.spawn(|| {
                let mut got = Vec::new();
                while let Some(e) = sub.next_until_stopped() {
                    got.push(e);
                }
                got
            });
            feed.publish(discarded(1));
            feed.publish(discarded(2));
            std::thread::sleep(Duration::from_millis(5));
            feed.publish(discarded(3));
            sub.stop();
            assert_eq!(
                got.join().unwrap(),
                vec![discarded(1), discarded(2), discarded(3)]
            );
        });
        // The stop is used up: the next wait times out instead of returning at once.
        assert_eq!(sub.next_within(Duration::from_millis(1)), None);
    }

    #[test]
    fn batches_give_back_their_parts() {
        let batch = SavedBatch {
            writer: 1,
            base: 0,
            index: 0,
            update_seq: 2,
            docs: vec![
                FedDoc {
                    db_seq: 1,
                    rev_seq: 1,
                    physical_size: 3,
                    id_len: 2,
                    meta_len: 1,
                    body_len: Some(3),
                    deleted: false,
                    content_meta: 0,
                },
                FedDoc {
                    db_seq: 2,
                    rev_seq: 1,
                    physical_size: 0,
                    id_len: 1,
                    meta_len: 0,
                    body_len: None,
                    deleted: true,
                    content_meta: 0,
                },
            ],
            bytes: b"idmbodz".to_vec(),
        };
        let parts: Vec<_> = batch.iter().map(|(_, i, m, b)| (i, m, b)).collect();
        assert_eq!(
            parts,
            vec![
                (&b"id"[..], &b"m"[..], Some(&b"bod"[..])),
                (&b"z"[..], &b""[..], None)
            ]
        );
    }
}
