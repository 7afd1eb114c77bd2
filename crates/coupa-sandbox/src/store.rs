//! Coupa's records held by the sandbox: users and reference data, in memory, optionally kept in SQLite.

use crate::{SandboxConfig, SandboxError};

#[derive(Debug)]
pub(crate) struct Coupa {}

impl Coupa {
    pub async fn open(_config: &SandboxConfig) -> Result<Coupa, SandboxError> {
        Ok(Coupa {})
    }

    /// Flushes pending writes before the process ends.
    pub async fn close(&self) {}
}
