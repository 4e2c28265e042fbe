//! The receive → invoke → delete loop.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use common::sqs::{self, Calls};

use crate::{config::Config, event::EventSource, invoke::invoke};

/// The binary's whole life: runs until SIGTERM / Ctrl-C.
pub async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,aws_smithy_runtime=warn,aws_config=warn".into()),
        )
        .compact()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let config = Config::from_env()?;
    tokio::select! {
        r = run(config) => r,
        () = common::shutdown::signal() => { tracing::info!("esm stopping"); Ok(()) }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let sqs = sqs::client(Calls::LongPoll).await;
    let http = reqwest::Client::builder()
        .timeout(config.invoke_timeout())
        .build()
        .context("HTTP client")?;
    let source = EventSource::from_queue_url(&config.queue_url, &config.region);
    println!(
        "esm polling {} → {} (batch size {}, window {:?}, {} pollers)",
        config.queue_url,
        config.function_url,
        config.batch_size,
        config.batch_window(),
        config.concurrency
    );
    // Like Lambda's mapping, several pollers: a slow invocation does not stop the
    // queue, and a message whose visibility timeout runs out is delivered again.
    let mut pollers = tokio::task::JoinSet::new();
    for _ in 0..config.concurrency {
        pollers.spawn(poll(
            sqs.clone(),
            http.clone(),
            source.clone(),
            config.clone(),
        ));
    }
    while pollers.join_next().await.is_some() {}
    Ok(())
}

async fn poll(
    sqs: aws_sdk_sqs::Client,
    http: reqwest::Client,
    source: EventSource,
    config: Config,
) {
    loop {
        let messages = match receive_batch(&sqs, &config).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "ReceiveMessage failed; retrying");
                // Back off so an SQS outage is not a hot loop.
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let event = source.event(&messages);
        let failed = match invoke(&http, &config.function_url, &event).await {
            Ok(failed) => failed,
            Err(e) => {
                tracing::warn!(error = %e, records = messages.len(), "invoke failed; whole batch returns to the queue");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let done: Vec<_> = messages
            .iter()
            .filter(|m| !failed.contains(m.message_id().unwrap_or_default()))
            .collect();
        tracing::info!(
            records = messages.len(),
            failed = failed.len(),
            "batch invoked"
        );
        delete(&sqs, &config.queue_url, &done).await;
    }
}

/// SQS's longest `WaitTimeSeconds`, which the client's timeouts leave room for.
const LONG_POLL_SECONDS: i32 = sqs::LONG_POLL_WAIT.as_secs() as i32;

/// Up to `batch_size` messages: the first receive long-polls; further receives fill
/// the batch until the batching window closes.
async fn receive_batch(sqs: &aws_sdk_sqs::Client, config: &Config) -> anyhow::Result<Vec<Message>> {
    let batch_size = usize::from(config.batch_size);
    let mut batch = Vec::new();
    let mut window_end: Option<Instant> = None;
    while batch.len() < batch_size {
        let wait = match window_end {
            None => LONG_POLL_SECONDS,
            Some(end) => {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                left.as_secs().min(LONG_POLL_SECONDS as u64) as i32
            }
        };
        let want = (batch_size - batch.len()).min(10) as i32;
        let out = sqs
            .receive_message()
            .queue_url(&config.queue_url)
            .max_number_of_messages(want)
            .wait_time_seconds(wait)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        let got = out.messages.unwrap_or_default();
        let empty = got.is_empty();
        batch.extend(got);
        if batch.is_empty() {
            // Nothing yet: keep long-polling (return so the caller's loop runs again).
            return Ok(batch);
        }
        if config.batch_window_ms == 0 || (empty && window_end.is_some()) {
            break;
        }
        window_end.get_or_insert_with(|| Instant::now() + config.batch_window());
    }
    Ok(batch)
}

async fn delete(sqs: &aws_sdk_sqs::Client, queue_url: &str, done: &[&Message]) {
    for chunk in done.chunks(10) {
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .ok()
            })
            .collect();
        if entries.is_empty() {
            continue;
        }
        match sqs
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) if !out.failed().is_empty() => {
                tracing::warn!(
                    failed = out.failed().len(),
                    "some deletes failed; those messages will be redelivered"
                )
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "DeleteMessageBatch failed; messages will be redelivered")
            }
        }
    }
}
