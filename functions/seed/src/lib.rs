//! One-off, non-HTTP: creates stations and their daily slots (see the README's "Seed").
use booking_core::ports::StoreError;
use booking_core::seed::{SeedEvent, SeedService};
use booking_redis::RedisStore;
pub use booking_redis::config::RedisConfig as Settings;
use serde_json::Value;

pub struct Seed {
    service: SeedService<RedisStore>,
}

impl Seed {
    pub fn build(settings: Settings) -> Result<Self, StoreError> {
        Ok(Self {
            service: SeedService::new(RedisStore::from_config(settings)?),
        })
    }

    pub fn service(&self) -> &SeedService<RedisStore> {
        &self.service
    }

    /// One invocation: the event's seed or migration, and its report.
    pub async fn handle(&self, event: SeedEvent) -> Result<Value, lambda_runtime::Error> {
        Ok(match event {
            SeedEvent::Seed(request) => {
                let report = self.service.seed(request).await?;
                tracing::info!(
                    total_slots = report.total_slots,
                    dates_skipped = report.dates_skipped,
                    "seeded"
                );
                serde_json::to_value(report)?
            }
            SeedEvent::Migrate => {
                let report = self.service.migrate().await?;
                tracing::info!(
                    dates_migrated = report.dates_migrated,
                    bookings_counted = report.bookings_counted,
                    "counted the bookings held"
                );
                serde_json::to_value(report)?
            }
        })
    }
}
