//! One adapter per channel, each with its own gateway and payload shape:
//!
//! - SMS: `{"id", "phone", "text"}`;
//! - WeChat template message: `{"id", "touser", "template_id", "data": {"first", "keyword1",
//!   "remark"}}`, each data field `{"value": …}` as WeChat's template API takes them;
//! - app push: `{"id", "token", "title", "body"}`.
//!
//! `id` is the outbox id and stays the same across retries, so a gateway can drop duplicates.
//! A channel whose gateway is off hands its messages to SMS; SMS without a gateway writes them
//! to the log, so a newcomer sees every message in the console. A message's secret (a code) is
//! opened only here, into the payload or that log line.

use serde_json::json;

use crate::config::{GatewayConfig, MasterKey, NotifyConfig};
use crate::notify::gateway::{DeliveryError, Gateway};
use crate::pii::{self, Phone};
use crate::store::models::{Channel, Notification};

/// The WeChat template adapter: its gateway and the template it fills.
#[derive(Debug, Clone)]
pub struct Wechat {
    gateway: Gateway,
    template_id: String,
}

/// The configured adapters; `None` is a channel that is off.
#[derive(Debug, Clone, Default)]
pub struct Adapters {
    /// SMS gateway (off: the log).
    pub sms: Option<Gateway>,
    /// WeChat template message gateway.
    pub wechat: Option<Wechat>,
    /// App push gateway.
    pub push: Option<Gateway>,
}

fn gateway(config: &GatewayConfig) -> Result<Option<Gateway>, DeliveryError> {
    match (&config.endpoint, config.enabled) {
        (Some(endpoint), true) => Ok(Some(Gateway::new(
            endpoint.clone(),
            config.secret.clone().unwrap_or_default(),
        )?)),
        _ => Ok(None),
    }
}

impl Adapters {
    /// The adapters the configuration turns on.
    pub fn from_config(config: &NotifyConfig) -> Result<Adapters, DeliveryError> {
        let wechat = gateway(&config.wechat)?.map(|gateway| Wechat {
            gateway,
            template_id: config.wechat.template_id.clone().unwrap_or_default(),
        });
        Ok(Adapters {
            sms: gateway(&config.sms)?,
            wechat,
            push: gateway(&config.push)?,
        })
    }

    /// The channel that carries a message queued for `channel`: itself when on, else SMS.
    pub fn carrier(&self, channel: Channel) -> Channel {
        match channel {
            Channel::Wechat if self.wechat.is_some() => Channel::Wechat,
            Channel::Push if self.push.is_some() => Channel::Push,
            _ => Channel::Sms,
        }
    }

    /// Delivers `message` over `carrier` (see [`Adapters::carrier`]), opening its sealed
    /// address only for this moment.
    pub async fn deliver(
        &self,
        master: &MasterKey,
        carrier: Channel,
        message: &Notification,
    ) -> Result<(), DeliveryError> {
        let spec = &message.spec;
        let text = crate::notify::delivered_text(master, spec)
            .map_err(|err| DeliveryError(format!("message secret: {err}")))?;
        let address = || {
            let sealed = spec
                .address_sealed
                .as_deref()
                .ok_or_else(|| DeliveryError(format!("no {} address", carrier.as_str())))?;
            pii::open_address(master, carrier.as_str(), sealed)
                .map_err(|err| DeliveryError(err.to_string()))
        };
        match (carrier, &self.wechat, &self.push) {
            (Channel::Wechat, Some(wechat), _) => {
                let payload = json!({
                    "id": message.id,
                    "touser": address()?,
                    "template_id": wechat.template_id,
                    "data": {
                        "first": { "value": spec.kind.label() },
                        "keyword1": { "value": text },
                        "remark": { "value": "打开“我的水票”查看详情" },
                    },
                });
                wechat.gateway.post(&payload).await
            }
            (Channel::Push, _, Some(push)) => {
                let payload = json!({
                    "id": message.id,
                    "token": address()?,
                    "title": spec.kind.label(),
                    "body": text,
                });
                push.post(&payload).await
            }
            _ => {
                let phone = Phone::open(master, &spec.recipient_sealed)
                    .map_err(|err| DeliveryError(err.to_string()))?;
                match &self.sms {
                    Some(sms) => {
                        let payload = json!({
                            "id": message.id,
                            "phone": phone.digits(),
                            "text": text,
                        });
                        sms.post(&payload).await
                    }
                    None => {
                        // Without a gateway the log is the channel, codes included, so a demo
                        // can be tried without one (documented in server/README.md). Only
                        // here does a code reach the log; configure a gateway in production.
                        tracing::info!(to = %phone.masked(), kind = spec.kind.as_str(),
                            %text, "notification");
                        Ok(())
                    }
                }
            }
        }
    }
}
