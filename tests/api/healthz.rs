use lambda_http::http::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthy_while_redis_answers_and_503_when_it_does_not() {
    let mut app = spawn_app().await;

    let healthy = app.healthz().await;
    assert_eq!(healthy.status, StatusCode::OK);
    assert_eq!(healthy.body, serde_json::json!({"status": "ok"}));

    app.redis.stop();
    let down = app.healthz().await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.error_code(), "store_unavailable");
    assert!(down.body["message"].is_string());
}
