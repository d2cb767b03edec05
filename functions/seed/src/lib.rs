//! One-off, non-HTTP: creates stations and their daily slots (see the README's "Seed").
use std::sync::Arc;

use booking_core::ports::StoreError;
use booking_core::seed::{RoomCommand, SeedEvent, SeedService};
use booking_core::waiting_room::{DEFAULT_ROOM_HOURS, DEFAULT_ROOM_SIZE, RoomAdmin, SystemClock};
use booking_redis::RedisStore;
pub use booking_redis::config::RedisConfig as Settings;
use serde_json::Value;

pub struct Seed {
    service: SeedService<RedisStore>,
    room: RoomAdmin,
}

impl Seed {
    pub fn build(settings: Settings) -> Result<Self, StoreError> {
        let store = RedisStore::from_config(settings)?;
        Ok(Self {
            room: RoomAdmin::new(Arc::new(store.clone()), Arc::new(SystemClock)),
            service: SeedService::new(store),
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
            SeedEvent::Room(RoomCommand::Open(open)) => {
                let epoch = self
                    .room
                    .open(
                        open.hours.unwrap_or(DEFAULT_ROOM_HOURS),
                        open.max_size.unwrap_or(DEFAULT_ROOM_SIZE),
                    )
                    .await?;
                tracing::info!(
                    epoch = epoch.id,
                    expires_at_ms = epoch.expires_at_ms,
                    max_size = epoch.max_size,
                    "waiting room opened"
                );
                serde_json::json!({ "room": "open", "epoch": epoch })
            }
            SeedEvent::Room(RoomCommand::Close(_)) => {
                let closed = self.room.close().await?;
                tracing::info!(epoch = closed.map(|epoch| epoch.id), "waiting room closed");
                serde_json::json!({ "room": "closed", "epoch": closed })
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
