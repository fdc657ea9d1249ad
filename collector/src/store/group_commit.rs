//! Group commit, shared by both stores: ingest callers queue their batches,
//! and a writer takes whatever is waiting (up to a row limit) and commits it
//! in one transaction, so many agents' batches share one fsync.
//!
//! Every caller is answered only after the commit holding its batch returned:
//! an ack is a promise that the rows are durable. When a commit fails, every
//! batch in it is answered with the error (none of them is acked, and the
//! agents send them again). The backend supplies only "commit these batches
//! in one transaction"; queueing, grouping and answering live here once.

use super::{InsertOutcome, Result, StoreError};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};

/// One caller's batch (rows of type `R`: the backends queue
/// [`super::rows::Stored`]) and where its answer goes.
struct Job<R> {
    rows: Vec<R>,
    done: oneshot::Sender<Result<InsertOutcome>>,
}

/// The callers' side: queues a batch and waits for its group's commit.
pub(super) struct Queue<R> {
    jobs: mpsc::UnboundedSender<Job<R>>,
}

/// The writers' side; each clone is one writer's handle on the same queue.
pub(super) struct Waiting<R> {
    jobs: Arc<Mutex<mpsc::UnboundedReceiver<Job<R>>>>,
}

impl<R> Clone for Waiting<R> {
    fn clone(&self) -> Self {
        Self {
            jobs: self.jobs.clone(),
        }
    }
}

/// A new, empty queue. Writers stop once the `Queue` is dropped.
pub(super) fn queue<R>() -> (Queue<R>, Waiting<R>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Queue { jobs: tx },
        Waiting {
            jobs: Arc::new(Mutex::new(rx)),
        },
    )
}

impl<R> Queue<R> {
    /// Stores `rows` with the next group; returns once that group committed.
    pub(super) async fn insert(&self, rows: Vec<R>) -> Result<InsertOutcome> {
        if rows.is_empty() {
            return Ok(InsertOutcome::default());
        }
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(Job { rows, done })
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

impl<R> Waiting<R> {
    /// The next group: the first waiting batch (waiting for one if none is)
    /// and whatever else is queued, up to `max_rows` rows. `None` once the
    /// queue is closed and empty.
    async fn next_group(&self, max_rows: usize) -> Option<Vec<Job<R>>> {
        let mut rx = self.jobs.lock().await;
        let first = rx.recv().await?;
        let mut rows = first.rows.len();
        let mut jobs = vec![first];
        while rows < max_rows {
            match rx.try_recv() {
                Ok(job) => {
                    rows += job.rows.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        Some(jobs)
    }
}

/// One writer: until the queue closes, takes the next group of batches and
/// hands them to `commit`, which stores them in one transaction and returns,
/// after its durable commit, one outcome per batch in the order given (or a
/// message naming what failed). Several writers may share one `Waiting`.
pub(super) async fn run<R, F, Fut>(waiting: Waiting<R>, max_rows: usize, mut commit: F)
where
    F: FnMut(Vec<Vec<R>>) -> Fut,
    Fut: Future<Output = std::result::Result<Vec<InsertOutcome>, String>>,
{
    while let Some(jobs) = waiting.next_group(max_rows).await {
        let (batches, answers): (Vec<_>, Vec<_>) =
            jobs.into_iter().map(|job| (job.rows, job.done)).unzip();
        match commit(batches).await {
            Ok(outcomes) => {
                for (done, outcome) in answers.into_iter().zip(outcomes) {
                    let _ = done.send(Ok(outcome));
                }
            }
            Err(message) => {
                tracing::error!(error = %message, "evidence commit failed; batches will not be acked");
                for done in answers {
                    let _ = done.send(Err(StoreError::Db(message.clone())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gamsa_proto::v1::Evidence;
    use std::sync::Mutex as StdMutex;

    fn batch(name: &str, rows: usize) -> Vec<Evidence> {
        (0..rows)
            .map(|i| Evidence {
                id: format!("{name}-{i}"),
                host: name.into(),
                ..Default::default()
            })
            .collect()
    }

    /// Every row accepted; the outcome says how many rows the batch had.
    fn accept_all(batches: &[Vec<Evidence>]) -> Vec<InsertOutcome> {
        batches
            .iter()
            .map(|b| InsertOutcome {
                accepted: b.len() as u32,
                duplicates: 0,
            })
            .collect()
    }

    #[tokio::test]
    async fn waiting_batches_are_grouped_up_to_the_row_limit() {
        let (queue, waiting) = queue();
        let queue = Arc::new(queue);
        // Five batches of 1..=5 rows queued before the writer starts.
        let callers: Vec<_> = (1..=5)
            .map(|n| {
                let queue = queue.clone();
                tokio::spawn(async move { queue.insert(batch(&format!("b{n}"), n)).await })
            })
            .collect();
        while waiting.jobs.lock().await.len() < 5 {
            tokio::task::yield_now().await;
        }
        let groups = Arc::new(StdMutex::new(Vec::new()));
        let seen = groups.clone();
        let writer = tokio::spawn(run(waiting, 5, move |batches: Vec<Vec<Evidence>>| {
            seen.lock().unwrap().push(batches.len());
            std::future::ready(Ok(accept_all(&batches)))
        }));
        for (n, caller) in (1..=5).zip(callers) {
            assert_eq!(caller.await.unwrap().unwrap().accepted, n, "batch {n}");
        }
        // 1 + 2 + 3 rows reach the limit of 5; then 4 + 5.
        assert_eq!(*groups.lock().unwrap(), [3, 2]);
        drop(queue);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn a_batch_is_answered_only_after_its_commit_returned() {
        let (queue, waiting) = queue();
        let (release, released) = oneshot::channel::<()>();
        let released = Arc::new(Mutex::new(Some(released)));
        tokio::spawn(run(waiting, 100, move |batches: Vec<Vec<Evidence>>| {
            let released = released.clone();
            async move {
                if let Some(gate) = released.lock().await.take() {
                    let _ = gate.await;
                }
                Ok(accept_all(&batches))
            }
        }));
        let answer = tokio::spawn(async move { queue.insert(batch("a", 3)).await });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!answer.is_finished(), "answered before the commit returned");
        release.send(()).unwrap();
        assert_eq!(answer.await.unwrap().unwrap().accepted, 3);
    }

    #[tokio::test]
    async fn a_failed_commit_is_reported_to_every_batch_in_it() {
        let (queue, waiting) = queue();
        let queue = Arc::new(queue);
        let callers: Vec<_> = ["poison", "innocent"]
            .into_iter()
            .map(|name| {
                let queue = queue.clone();
                tokio::spawn(async move { queue.insert(batch(name, 2)).await })
            })
            .collect();
        while waiting.jobs.lock().await.len() < 2 {
            tokio::task::yield_now().await;
        }
        tokio::spawn(run(waiting, 100, |batches: Vec<Vec<Evidence>>| {
            std::future::ready(if batches.iter().flatten().any(|e| e.host == "poison") {
                Err("disk full".to_string())
            } else {
                Ok(accept_all(&batches))
            })
        }));
        for caller in callers {
            let err = caller.await.unwrap().unwrap_err();
            assert!(err.to_string().contains("disk full"), "{err}");
        }
        // The writer goes on: the next batch commits.
        assert_eq!(queue.insert(batch("next", 4)).await.unwrap().accepted, 4);
        assert_eq!(
            queue.insert(Vec::new()).await.unwrap(),
            InsertOutcome::default()
        );
    }
}
