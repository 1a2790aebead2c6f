//! SQS queues. Standard queues: at-least-once, consumers idempotent per comment version;
//! dead-lettering by the queue's redrive policy.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName,
    SendMessageBatchRequestEntry,
};
use vigie_core::ports::{Delivery, OutgoingMessage, QueueError, QueueReceive, QueueSend};

/// SQS takes at most 10 messages per batch call.
const BATCH: usize = 10;

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

fn unavailable<E: ProvideErrorMetadata>(e: E) -> QueueError {
    QueueError::Unavailable(format!(
        "{}: {}",
        e.code().unwrap_or("error"),
        e.message().unwrap_or("no message")
    ))
}

impl SqsQueue {
    pub fn from_conf(conf: &aws_config::SdkConfig, url: impl Into<String>) -> Self {
        Self::new(Client::new(conf), url)
    }

    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

#[async_trait]
impl QueueSend for SqsQueue {
    async fn send(&self, messages: &[OutgoingMessage]) -> Result<(), QueueError> {
        let mut failed = Vec::new();
        let mut reason = String::new();
        for chunk in messages.chunks(BATCH) {
            // Batch entry ids are positions: message ids may hold characters SQS refuses there.
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let mut e = SendMessageBatchRequestEntry::builder()
                        .id(format!("m{i}"))
                        .message_body(&m.body);
                    for (k, v) in &m.attributes {
                        let attr = MessageAttributeValue::builder()
                            .data_type("String")
                            .string_value(v)
                            .build()
                            .expect("complete attribute");
                        e = e.message_attributes(k, attr);
                    }
                    e.build().expect("complete entry")
                })
                .collect();
            match self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => {
                    for f in out.failed() {
                        let i: usize = f.id().trim_start_matches('m').parse().unwrap_or(0);
                        failed.push(chunk[i.min(chunk.len() - 1)].id.clone());
                        reason = format!("{}: {}", f.code(), f.message().unwrap_or_default());
                    }
                }
                Err(e) => {
                    let e = e.into_service_error();
                    reason = format!(
                        "{}: {}",
                        e.code().unwrap_or("error"),
                        e.message().unwrap_or_default()
                    );
                    failed.extend(chunk.iter().map(|m| m.id.clone()));
                }
            }
        }
        if failed.is_empty() {
            Ok(())
        } else if failed.len() == messages.len() {
            Err(QueueError::Unavailable(reason))
        } else {
            Err(QueueError::Partial { failed, reason })
        }
    }
}

#[async_trait]
impl QueueReceive for SqsQueue {
    async fn receive(
        &self,
        max: usize,
        visibility_seconds: u32,
    ) -> Result<Vec<Delivery>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, BATCH) as i32)
            .visibility_timeout(visibility_seconds as i32)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(out
            .messages()
            .iter()
            .map(|m| Delivery {
                message_id: m.message_id().unwrap_or_default().to_owned(),
                receipt: m.receipt_handle().unwrap_or_default().to_owned(),
                body: m.body().unwrap_or_default().to_owned(),
                attributes: m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| {
                                (k.clone(), v.string_value().unwrap_or_default().to_owned())
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                receive_count: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1),
            })
            .collect())
    }

    async fn ack(&self, receipts: &[String]) -> Result<(), QueueError> {
        for chunk in receipts.chunks(BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(format!("d{i}"))
                        .receipt_handle(r)
                        .build()
                        .expect("complete entry")
                })
                .collect();
            self.client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| unavailable(e.into_service_error()))?;
        }
        Ok(())
    }

    async fn release(&self, receipt: &str, delay_seconds: u32) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(delay_seconds as i32)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }
}
