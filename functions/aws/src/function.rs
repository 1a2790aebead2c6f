//! What every Lambda main does before its handler: logs, environment, configuration.

use vigie_core::config::{Brands, ConfigError};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("the environment variable {0} is not set")]
    MissingVariable(&'static str),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// JSON logs on stdout in the format of [`crate::logs`] (CloudWatch adds the time),
/// filtered by `RUST_LOG`.
pub fn init_tracing() {
    crate::logs::json(std::io::stdout)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
}

/// A variable the function cannot start without.
pub fn required(name: &'static str) -> Result<String, StartupError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(StartupError::MissingVariable(name))
}

/// The brand configuration packaged with the function, at `VIGIE_CONFIG`.
pub fn brands() -> Result<Brands, StartupError> {
    Ok(Brands::load(required("VIGIE_CONFIG")?.as_ref())?)
}

/// Built once at start, lives as long as the Lambda process.
pub fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}
