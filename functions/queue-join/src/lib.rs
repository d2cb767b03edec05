//! POST /queue: take one place in the waiting room (with an identity mode on, only for one's
//! own ID).
use booking_core::config::{ConfigError, IdentityConfig};
use booking_core::waiting_room::WaitingRoom;
use booking_redis::queue::RoomSettings;
use booking_wiring::{BuildError, identity_check};
use lambda_http::{Body, Request, Response};

pub struct Settings {
    pub room: RoomSettings,
    /// `IDENTITY*`: a place costs a verified identity.
    pub identity: IdentityConfig,
}

impl Settings {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            room: RoomSettings::from_lookup(&lookup)?,
            identity: IdentityConfig::from_lookup(&lookup)?,
        })
    }
}

pub struct QueueJoin {
    room: WaitingRoom,
}

impl QueueJoin {
    pub async fn build(settings: Settings) -> Result<Self, BuildError> {
        let identity = identity_check(&settings.identity).await?;
        Ok(Self {
            room: settings.room.waiting_room()?.with_identity(identity),
        })
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        booking_http::join_queue(&self.room, request).await
    }
}
