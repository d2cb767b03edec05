//! Every HTTP endpoint on one port, served by the same handlers the Lambda functions run: for
//! load tests, container hosting and the fuzz step of `make test`. `GET /metrics` (Prometheus
//! text format) is on a separate operator port. [`LocalApi::build`] is the one wiring its
//! `main` and the tests use.
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use booking_core::check_in::CheckInKey;
use booking_core::config::check_in::check_in_key;
use booking_core::config::references::BOOKING_REFERENCE_KEY;
use booking_core::config::waiting_room::LOCAL_ADMISSION_KEY;
use booking_core::config::{ConfigError, WaitingRoomConfig};
use booking_core::identity_token::IDENTITY_TOKEN_KEY;
use booking_core::station::STATION_CACHE_MAX_AGE;
use booking_core::verification::OtpSender;
use booking_core::waiting_room::{Inlet, RoomAdmin, SystemClock, WaitingRoom};
use booking_http::Api;
use booking_http::server_settings::{ServerLimits, listen_address, max_in_flight, metrics_address};
use booking_kafka::config::KafkaBatchConfig;
use booking_kafka::{BatchingPublisher, KafkaPublisher};
use booking_redis::RedisStore;
use booking_redis::verification::VerificationSettings;
use booking_wiring::{BookingSettings, BuildError, identity_check};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Everything local-api reads: the booking functions' settings, the waiting room's, the
/// batching of events, and its own listeners and limits (`HOST`, `PORT`, `METRICS_*`,
/// `REQUEST_TIMEOUT_SECS`, `MAX_CONNECTIONS`, `MAX_IN_FLIGHT`).
pub struct Settings {
    pub bookings: BookingSettings,
    /// `CHECKIN_KEY`: signs the slips' check-in codes.
    pub check_in: CheckInKey,
    pub room: WaitingRoomConfig,
    pub batch: KafkaBatchConfig,
    pub address: SocketAddr,
    pub metrics_address: SocketAddr,
    pub limits: ServerLimits,
    pub max_in_flight: usize,
    /// One-time codes and identity tokens (`IDENTITY_TOKEN_*`, `IDENTITY_IDS_PER_PHONE`,
    /// `OTP_SENDER`, `OTP_FILE`).
    pub verification: VerificationSettings,
    pub otp_sender: Arc<dyn OtpSender>,
}

impl Settings {
    /// Refuses to listen beyond this machine on the public development keys: anyone could
    /// then make references and admission tokens for any ID.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let settings = Self {
            bookings: BookingSettings::from_lookup(&lookup)?,
            check_in: check_in_key(&lookup)?,
            room: WaitingRoomConfig::from_lookup(&lookup)?,
            batch: KafkaBatchConfig::from_lookup(&lookup)?,
            address: listen_address(&lookup)?,
            metrics_address: metrics_address(&lookup)?,
            limits: ServerLimits::from_lookup(&lookup)?,
            max_in_flight: max_in_flight(&lookup)?,
            verification: VerificationSettings::from_lookup(&lookup)?,
            otp_sender: booking_otp::sender_from_lookup(&lookup)?,
        };
        if !settings.address.ip().is_loopback() {
            let public_key = if settings.bookings.references.development {
                Some(BOOKING_REFERENCE_KEY)
            } else if settings.room.admission_key == LOCAL_ADMISSION_KEY.as_bytes() {
                Some("ADMISSION_KEY")
            } else if settings.verification.tokens.key().development {
                Some(IDENTITY_TOKEN_KEY)
            } else {
                None
            };
            if let Some(variable) = public_key {
                return Err(ConfigError {
                    variable,
                    problem: format!(
                        "must be set to a secret of your own when HOST ({}) is not a loopback \
                         address: the development key is public",
                        settings.address.ip()
                    ),
                });
            }
        }
        Ok(settings)
    }
}

/// The API over Redis with batched publishing, and the inlet that moves its waiting room.
pub struct LocalApi {
    pub api: Api<RedisStore, RedisStore, BatchingPublisher<KafkaPublisher>>,
    pub inlet: Inlet,
    /// What an operator does in AWS (the seed function's room events), local-api does for a
    /// room that is on: `open_room` opens one unless one is open.
    pub room_admin: Option<RoomAdmin>,
}

impl LocalApi {
    pub async fn build(settings: Settings) -> Result<Self, BuildError> {
        let identity = identity_check(&settings.bookings.identity).await?;
        let store = settings.bookings.store()?;
        let publish = settings.bookings.publish;
        // A long-lived process: concurrent bookings' events share produce requests.
        let publisher = BatchingPublisher::new(
            KafkaPublisher::from_config(&settings.bookings.kafka).await,
            &settings.batch,
            publish.timeout,
        );
        let room = WaitingRoom::configured(Arc::new(store.clone()), &settings.room)
            .with_identity(identity.clone());
        let inlet = Inlet::new(
            Arc::new(store.clone()),
            settings.room.inlet,
            Arc::new(SystemClock),
        );
        let room_admin = settings
            .room
            .room_on
            .then(|| RoomAdmin::new(Arc::new(store.clone()), Arc::new(SystemClock)));
        let verification = settings
            .verification
            .service_on(store.clone(), settings.otp_sender)
            .with_clock(Arc::clone(&settings.bookings.clock));
        let bookings = settings
            .bookings
            .bookings_with(store, publisher)
            .with_identity(identity);
        let api = Api::from_bookings(bookings, settings.check_in)
            .with_verification(verification)
            .with_station_cache(STATION_CACHE_MAX_AGE)
            .with_waiting_room(room, settings.room.room_on)
            .with_in_flight_limit(settings.max_in_flight);
        Ok(Self {
            api,
            inlet,
            room_admin,
        })
    }
}

/// The waiting room's inlet, once a second, in place of the scheduled `queue-inlet` function.
pub fn spawn_inlet(inlet: Inlet) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(1));
        loop {
            interval.tick().await;
            if let Err(error) = inlet.tick().await {
                tracing::warn!(%error, "inlet tick failed");
            }
        }
    });
}

/// The Prometheus recorder of this process, installed on first use; its handle renders
/// `GET /metrics`.
pub fn prometheus() -> Result<PrometheusHandle, String> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Milliseconds: a booking's Redis call is about 1 ms, a broker publish a few.
            let buckets = [
                0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0,
            ];
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_ms".into()), &buckets)
                .and_then(PrometheusBuilder::install_recorder)
                .map_err(|e| e.to_string())?;
            booking_core::service_metrics::describe();
            Ok(handle)
        })
        .clone()
}

/// What `GET /metrics` answers: the recorder's text, with histograms folded in first (without
/// the upkeep a scrape would lag behind).
pub fn render_metrics(handle: PrometheusHandle) -> impl Fn() -> String + Clone + Send + 'static {
    move || {
        handle.run_upkeep();
        handle.render()
    }
}

#[cfg(test)]
mod tests {
    use booking_core::config::fixed_lookup;

    use super::*;

    #[test]
    fn beyond_loopback_it_refuses_the_public_development_keys() {
        let base = [("KAFKA_BROKERS", "127.0.0.1:9092")];
        let key = "k".repeat(32);
        let with = |extra: &[(&str, &str)]| {
            let pairs: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
            Settings::from_lookup(fixed_lookup(&pairs)).map(drop)
        };
        assert!(with(&[]).is_ok(), "on 127.0.0.1 the development keys serve");
        assert_eq!(
            with(&[("HOST", "0.0.0.0")]).unwrap_err().variable,
            BOOKING_REFERENCE_KEY
        );
        assert_eq!(
            with(&[("HOST", "0.0.0.0"), (BOOKING_REFERENCE_KEY, &key)])
                .unwrap_err()
                .variable,
            "ADMISSION_KEY"
        );
        assert_eq!(
            with(&[
                ("HOST", "0.0.0.0"),
                (BOOKING_REFERENCE_KEY, &key),
                ("ADMISSION_KEY", &key)
            ])
            .unwrap_err()
            .variable,
            IDENTITY_TOKEN_KEY
        );
        assert!(
            with(&[
                ("HOST", "0.0.0.0"),
                (BOOKING_REFERENCE_KEY, &key),
                ("ADMISSION_KEY", &key),
                (IDENTITY_TOKEN_KEY, &key)
            ])
            .is_ok()
        );
        assert!(with(&[("HOST", "::1")]).is_ok());
    }
}
