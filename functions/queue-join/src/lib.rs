//! POST /queue: take one place in the waiting room.
use booking_core::ports::StoreError;
use booking_core::waiting_room::WaitingRoom;
pub use booking_redis::queue::RoomSettings as Settings;
use lambda_http::{Body, Request, Response};

pub struct QueueJoin {
    room: WaitingRoom,
}

impl QueueJoin {
    pub fn build(settings: Settings) -> Result<Self, StoreError> {
        Ok(Self {
            room: settings.waiting_room()?,
        })
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        booking_http::join_queue(&self.room, request).await
    }
}
