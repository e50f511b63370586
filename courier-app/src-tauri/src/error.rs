//! The one error type commands return: a stable `code` the UI can match on and a zh-CN
//! `message` it shows, never a string to parse.

use serde::Serialize;
use shuipiao_courier::data_dir::EnrollError;
use shuipiao_courier::engine::EngineError;
use shuipiao_courier::live::SpecError;
use shuipiao_courier::store::StoreError;
use shuipiao_courier::sync::SyncError;

/// `{code, message}` as the UI receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandError {
    /// Stable machine-readable code.
    pub code: String,
    /// zh-CN text for the courier.
    pub message: String,
}

impl CommandError {
    /// An error with this code and message.
    pub fn new(code: &str, message: impl Into<String>) -> CommandError {
        CommandError {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

impl From<EngineError> for CommandError {
    fn from(error: EngineError) -> Self {
        CommandError::new(error.code(), error.user_message())
    }
}

impl From<StoreError> for CommandError {
    fn from(error: StoreError) -> Self {
        CommandError::new(error.code(), error.user_message())
    }
}

impl From<SyncError> for CommandError {
    fn from(error: SyncError) -> Self {
        CommandError::new(error.code(), error.user_message())
    }
}

impl From<EnrollError> for CommandError {
    fn from(error: EnrollError) -> Self {
        CommandError::new(error.code(), error.user_message())
    }
}

impl From<SpecError> for CommandError {
    fn from(error: SpecError) -> Self {
        CommandError::new("camera_spec", error.to_string())
    }
}

impl From<std::io::Error> for CommandError {
    fn from(_: std::io::Error) -> Self {
        CommandError::new("data_dir", "无法读写应用数据目录，请检查存储空间")
    }
}
