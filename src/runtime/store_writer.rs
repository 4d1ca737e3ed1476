//! The store writer: one task owns every database write the core asks for, so the core never
//! waits on SQL: final CDRs (the answer to the BYE that ended a call waits for them), the
//! in-progress journal a crash leaves behind, and the contact center's records.

use super::*;
use crate::center::CallbackJob;

/// How long an in-progress CDR may wait to be written: a crash loses at most this much of
/// what the journal knew (a call younger than this may be missing from the records).
pub(super) const JOURNAL_DELAY: Duration = Duration::from_millis(250);
/// In-progress records written in one statement at most.
pub(super) const JOURNAL_BATCH: usize = 500;

pub(super) async fn sleep_until_or_never(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The indexed columns of a call's in-progress row as last written, by CDR id: a final record
/// that matches them is written as [`CdrStage::FinalOverJournal`], leaving those indexes
/// alone. One entry per live call that has been journaled; its final record removes it.
/// Bounded: past [`MAX_JOURNALED_KEYS`] it starts afresh, which only makes the next final
/// records set every column.
#[derive(Default)]
pub(super) struct JournaledKeys(HashMap<String, RowKeys>);

/// Entries [`JournaledKeys`] holds at most (far more calls than a switch carries at once).
const MAX_JOURNALED_KEYS: usize = 200_000;

#[derive(PartialEq, Eq)]
struct RowKeys {
    caller: String,
    callee: String,
    start_ms: i64,
    interaction: Option<String>,
}

impl RowKeys {
    fn of(cdr: &Cdr) -> RowKeys {
        RowKeys {
            caller: cdr.caller.clone(),
            callee: cdr.callee.clone(),
            start_ms: cdr.start_ms.0,
            interaction: cdr.interaction.clone(),
        }
    }
}

impl JournaledKeys {
    /// Whether `cdr`'s row was journaled with the indexed columns it has now; forgets it.
    fn take_unchanged(&mut self, cdr: &Cdr) -> bool {
        self.0
            .remove(&cdr.id.0)
            .is_some_and(|keys| keys == RowKeys::of(cdr))
    }
}

pub(super) async fn flush_journal(
    store: &Store,
    journal: &mut HashMap<String, Cdr>,
    keys: &mut JournaledKeys,
) {
    if journal.is_empty() {
        return;
    }
    let batch: Vec<Cdr> = journal.drain().map(|(_, cdr)| cdr).collect();
    match store.upsert_cdrs(&batch, CdrStage::InProgress).await {
        Ok(()) => {
            if keys.0.len() + batch.len() > MAX_JOURNALED_KEYS {
                keys.0.clear();
            }
            for cdr in &batch {
                keys.0.insert(cdr.id.0.clone(), RowKeys::of(cdr));
            }
        }
        Err(error) => {
            // A batch may have been written in part; what is not known written is not
            // remembered, so its final record sets every column.
            for cdr in &batch {
                keys.0.remove(&cdr.id.0);
            }
            tracing::warn!(%error, records = batch.len(), "writing in-progress CDRs failed");
        }
    }
}

/// Most final records written in one statement.
pub(super) const FINAL_BATCH: usize = 64;
/// Under load, how long a final record waits for others to share its commit (group commit):
/// each commit rewrites the pages it touched however many rows it holds. The answer to the
/// BYE that ended a call waits this much longer at most.
pub(super) const FINAL_GATHER: Duration = Duration::from_millis(5);
/// The writer is "under load" when the previous final records were written this recently; a
/// lone call's records are written at once.
pub(super) const BUSY_WITHIN: Duration = Duration::from_millis(50);

/// Writes final records, retrying briefly: a CDR is billing data and must not be lost to a
/// busy database. Each supersedes whatever the journal still holds for its call.
pub(super) async fn write_finals(
    store: &Store,
    journal: &mut HashMap<String, Cdr>,
    keys: &mut JournaledKeys,
    records: Vec<Cdr>,
) {
    for cdr in &records {
        journal.remove(&cdr.id.0);
    }
    let (over_journal, others): (Vec<Cdr>, Vec<Cdr>) = records
        .into_iter()
        .partition(|cdr| keys.take_unchanged(cdr));
    write_with_retries(store, &over_journal, CdrStage::FinalOverJournal).await;
    write_with_retries(store, &others, CdrStage::Final).await;
}

async fn write_with_retries(store: &Store, records: &[Cdr], stage: CdrStage) {
    if records.is_empty() {
        return;
    }
    let mut attempt = 0;
    loop {
        match store.upsert_cdrs(records, stage).await {
            Ok(()) => return,
            Err(error) if attempt < 3 => {
                attempt += 1;
                tracing::warn!(%error, attempt, "writing CDRs failed; retrying");
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
            Err(error) => {
                let ids: Vec<&str> = records.iter().map(|c| c.id.0.as_str()).collect();
                tracing::error!(%error, ?ids, "CDRs lost");
                return;
            }
        }
    }
}

pub(super) async fn store_writer(
    store: Store,
    mut jobs: mpsc::Receiver<StoreJob>,
    persisted: mpsc::Sender<u64>,
) {
    // In-progress records wait here up to `JOURNAL_DELAY`, newest per call: a call that ends
    // within it (most do, or at least answer) costs one write instead of three, and the rest
    // go out in one statement.
    let mut journal: HashMap<String, Cdr> = HashMap::new();
    let mut keys = JournaledKeys::default();
    let mut flush_at: Option<tokio::time::Instant> = None;
    // A job read while gathering final records, handled next.
    let mut held: Option<StoreJob> = None;
    let mut last_finals: Option<tokio::time::Instant> = None;
    loop {
        let job = match held.take() {
            Some(job) => Some(job),
            None => tokio::select! {
                job = jobs.recv() => job,
                () = sleep_until_or_never(flush_at) => {
                    flush_journal(&store, &mut journal, &mut keys).await;
                    flush_at = None;
                    continue;
                }
            },
        };
        let Some(job) = job else { break };
        match job {
            StoreJob::Binding(BindingChange::Upsert { aor, binding }) => {
                let now_unix = clock::unix_now().as_secs();
                let p = binding.to_persisted(clock::now(), now_unix);
                let Some(received) = p.received else { continue };
                let stored = StoredBinding {
                    aor: aor.to_string(),
                    contact_uri: p.contact_uri,
                    expires_at: UnixMillis(
                        i64::try_from(p.expires_unix).unwrap_or(i64::MAX / 1000) * 1000,
                    ),
                    call_id: p.call_id,
                    cseq: p.cseq,
                    q: p.q.map(|q| q.to_string()),
                    received,
                    transport: match p.transport {
                        Transport::Tcp => "tcp",
                        Transport::Tls => "tls",
                        _ => "udp",
                    }
                    .into(),
                };
                if let Err(error) = store.upsert_registration(&stored).await {
                    tracing::error!(%error, "persisting a binding failed");
                }
            }
            StoreJob::Binding(BindingChange::Remove { aor, contact_uri }) => {
                if let Err(error) = store.delete_registration(aor.as_str(), &contact_uri).await {
                    tracing::error!(%error, "removing a binding failed");
                }
            }
            StoreJob::ContactCenter(job) => write_contact_center(&store, job).await,
            StoreJob::CdrInProgress(cdr) => {
                flush_at.get_or_insert_with(|| tokio::time::Instant::now() + JOURNAL_DELAY);
                journal.insert(cdr.id.0.clone(), *cdr);
                if journal.len() >= JOURNAL_BATCH {
                    flush_journal(&store, &mut journal, &mut keys).await;
                    flush_at = None;
                }
            }
            StoreJob::Cdr { token, cdr } => {
                // Final records waiting behind this one go out with it, in one statement:
                // one each was most of the store's cost per call.
                let mut finals = vec![(token, *cdr)];
                let now = tokio::time::Instant::now();
                let busy = last_finals.is_some_and(|at| now.duration_since(at) < BUSY_WITHIN);
                let gather_until = busy.then_some(now + FINAL_GATHER);
                while finals.len() < FINAL_BATCH {
                    let next = match (jobs.try_recv(), gather_until) {
                        (Ok(job), _) => Some(job),
                        (Err(mpsc::error::TryRecvError::Empty), Some(until)) => {
                            tokio::time::timeout_at(until, jobs.recv())
                                .await
                                .ok()
                                .flatten()
                        }
                        (Err(_), _) => None,
                    };
                    match next {
                        Some(StoreJob::Cdr { token, cdr }) => finals.push((token, *cdr)),
                        Some(other) => {
                            held = Some(other);
                            break;
                        }
                        None => break,
                    }
                }
                let (tokens, records): (Vec<u64>, Vec<Cdr>) = finals.into_iter().unzip();
                write_finals(&store, &mut journal, &mut keys, records).await;
                last_finals = Some(tokio::time::Instant::now());
                for token in tokens {
                    let _ = persisted.send(token).await;
                }
            }
        }
    }
    flush_journal(&store, &mut journal, &mut keys).await;
}

/// Persists one contact-center record; failures are logged (the live state is in the core,
/// and the interaction's next step writes its columns again).
pub(super) async fn write_contact_center(store: &Store, job: Job) {
    let result = match &job {
        Job::Arrived(ix) => store.insert_interaction(ix).await,
        Job::Cad(interaction, variables) => {
            let mut result = Ok(());
            for variable in variables {
                if let Err(error) = store.set_cad_variable(interaction, variable).await {
                    result = Err(error);
                }
            }
            result
        }
        Job::Progress(progress) => store
            .record_interaction_progress(progress)
            .await
            .map(|_| ()),
        Job::AgentState(change) => store.record_agent_state(change).await,
        Job::RecordingStarted(interaction, path, at) => {
            store.recording_started(interaction, path, *at).await
        }
        Job::Participant(interaction, participant) => store
            .add_participant(interaction, participant)
            .await
            .map(|_| ()),
        Job::PartWrappedUp {
            interaction,
            agent,
            disposition,
            at,
        } => store
            .wrap_up_part(interaction, agent, disposition.as_deref(), None, *at)
            .await
            .map(|_| ()),
        Job::MediaChange(interaction, change) => store
            .add_media_change(interaction, change)
            .await
            .map(|_| ()),
        Job::RecordingEnded(interaction, status, error, at) => {
            store
                .recording_ended(interaction, *status, error.as_deref(), *at)
                .await
        }
        Job::Callback(CallbackJob::Created(callback)) => store.insert_callback(callback).await,
        Job::Callback(CallbackJob::Update {
            interaction,
            attempts,
            status,
        }) => store
            .update_callback(interaction, *attempts, *status)
            .await
            .map(|_| ()),
    };
    if let Err(error) = result {
        tracing::error!(%error, "persisting a contact-center record failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{TempDb, sample_cdr};

    /// Hands `job` to the writer; for a final record, waits until it is written.
    async fn send(
        jobs: &mpsc::Sender<StoreJob>,
        persisted: &mut mpsc::Receiver<u64>,
        job: StoreJob,
    ) {
        let token = match &job {
            StoreJob::Cdr { token, .. } => Some(*token),
            _ => None,
        };
        jobs.send(job).await.unwrap();
        if let Some(token) = token {
            assert_eq!(persisted.recv().await, Some(token));
        }
    }

    #[tokio::test]
    async fn a_final_record_changed_since_its_journal_write_is_written_whole() {
        let db = TempDb::new().await;
        let (jobs, rx) = mpsc::channel(16);
        let (persisted_tx, mut persisted) = mpsc::channel(16);
        let writer = tokio::spawn(store_writer(db.store.clone(), rx, persisted_tx));

        let kept = sample_cdr("kept", "1001", "1002", 1_000);
        // A warm transfer hands the call to another agent after the journal wrote it.
        let moved_before = sample_cdr("moved", "1001", "1002", 1_000);
        let mut moved = moved_before.clone();
        moved.callee = "1003".into();
        moved.interaction = Some("ix-1".into());
        for cdr in [&kept, &moved_before] {
            let job = StoreJob::CdrInProgress(Box::new(cdr.clone()));
            send(&jobs, &mut persisted, job).await;
        }
        // The journal is written once its delay has passed.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if db.store.cdrs_in_progress().await == 2 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "journal never written"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for (token, cdr) in [(1, &kept), (2, &moved)] {
            let job = StoreJob::Cdr {
                token,
                cdr: Box::new(cdr.clone()),
            };
            send(&jobs, &mut persisted, job).await;
        }
        assert_eq!(db.store.get_cdr(&kept.id).await.unwrap(), Some(kept));
        assert_eq!(db.store.get_cdr(&moved.id).await.unwrap(), Some(moved));
        drop(jobs);
        writer.await.unwrap();
    }
}
