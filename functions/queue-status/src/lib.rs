//! GET /queue (the serving number, the same for everybody) and GET /queue/{ticket} (one
//! ticket's standing and, once admitted, its admission token).
use booking_core::ports::StoreError;
use booking_core::waiting_room::WaitingRoom;
pub use booking_redis::queue::RoomSettings as Settings;
use lambda_http::{Body, Request, Response};

pub struct QueueStatus {
    room: WaitingRoom,
}

impl QueueStatus {
    pub fn build(settings: Settings) -> Result<Self, StoreError> {
        Ok(Self {
            room: settings.waiting_room()?,
        })
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        booking_http::queue_status(&self.room, request).await
    }
}
