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

pub(super) async fn flush_journal(store: &Store, journal: &mut HashMap<String, Cdr>) {
    if journal.is_empty() {
        return;
    }
    let batch: Vec<Cdr> = journal.drain().map(|(_, cdr)| cdr).collect();
    if let Err(error) = store.upsert_cdrs(&batch, CdrStage::InProgress).await {
        tracing::warn!(%error, records = batch.len(), "writing in-progress CDRs failed");
    }
}

/// Most final records written in one statement.
pub(super) const FINAL_BATCH: usize = 64;

/// Writes final records, retrying briefly: a CDR is billing data and must not be lost to a
/// busy database. Each supersedes whatever the journal still holds for its call.
pub(super) async fn write_finals(
    store: &Store,
    journal: &mut HashMap<String, Cdr>,
    records: &[Cdr],
) {
    for cdr in records {
        journal.remove(&cdr.id.0);
    }
    let mut attempt = 0;
    loop {
        match store.upsert_cdrs(records, CdrStage::Final).await {
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
    let mut flush_at: Option<tokio::time::Instant> = None;
    // A job read while gathering final records, handled next.
    let mut held: Option<StoreJob> = None;
    loop {
        let job = match held.take() {
            Some(job) => Some(job),
            None => tokio::select! {
                job = jobs.recv() => job,
                () = sleep_until_or_never(flush_at) => {
                    flush_journal(&store, &mut journal).await;
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
                    flush_journal(&store, &mut journal).await;
                    flush_at = None;
                }
            }
            StoreJob::Cdr { token, cdr } => {
                // Final records waiting behind this one go out with it, in one statement:
                // one each was most of the store's cost per call.
                let mut finals = vec![(token, *cdr)];
                while finals.len() < FINAL_BATCH {
                    match jobs.try_recv() {
                        Ok(StoreJob::Cdr { token, cdr }) => finals.push((token, *cdr)),
                        Ok(other) => {
                            held = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let (tokens, records): (Vec<u64>, Vec<Cdr>) = finals.into_iter().unzip();
                write_finals(&store, &mut journal, &records).await;
                for token in tokens {
                    let _ = persisted.send(token).await;
                }
            }
        }
    }
    flush_journal(&store, &mut journal).await;
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
