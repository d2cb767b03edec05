use lambda_http::http::StatusCode;

use crate::helpers::person_id;
use crate::helpers::spawn_app;

#[tokio::test]
async fn redis_down_gives_503_and_recovery_needs_no_restart() {
    let mut app = spawn_app().await;
    app.seed(1, &[("PWTC", 10)]).await;
    assert_eq!(app.get_station("PWTC").await.status, StatusCode::OK);

    app.redis.stop();
    let read = app.get_station("PWTC").await;
    let booking = app.book(&person_id(1), "PWTC", "20210516").await;
    for response in [read, booking] {
        assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.error_code(), "store_unavailable");
    }

    // Redis comes back empty (no persistence in tests); the same services reconnect.
    app.redis.restart();
    app.seed(1, &[("PWTC", 10)]).await;
    let mut recovered = false;
    for _ in 0..50 {
        if app.book(&person_id(1), "PWTC", "20210516").await.status == StatusCode::CREATED {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "bookings succeed again after Redis returns");
    assert_eq!(app.get_station("PWTC").await.body[0]["availability"], 9);
}
