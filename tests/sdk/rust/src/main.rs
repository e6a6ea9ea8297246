//! Drives the real `sentry` crate for tests/integration/test_sdk_matrix.py.
//!
//! Environment: SENTRY_DSN (the relay's DSN), TERN_RELEASE (the release, so
//! the test finds the session). Sends, in one session: a breadcrumb trail, a
//! user and a tag set, a panic ("attempt to divide by zero", raised by the
//! debug build's overflow check in `divide`) with an attachment, and a
//! warning message; ends the session and flushes. Prints one JSON line:
//! {"exception_id": ..., "message_id": ...} (the SDK version is in the events).

use std::time::Duration;

fn divide(total: u32, parts: u32) -> u32 {
    total / parts
}

fn main() {
    let dsn = std::env::var("SENTRY_DSN").expect("SENTRY_DSN is not set");
    let release = std::env::var("TERN_RELEASE").expect("TERN_RELEASE is not set");
    // ClientOptions is non-exhaustive: set its fields on the default.
    let mut options = sentry::ClientOptions::default();
    options.release = Some(release.into());
    options.environment = Some("integration".into());
    options.shutdown_timeout = Duration::from_secs(15);
    // Our frames are the in-app ones. Without this every frame the SDK does
    // not know (sentry_panic's own, and rustc's `__rustc::rust_begin_unwind`)
    // would count as in-app, and Sentry would blame the panic handler.
    options.in_app_include = vec!["tern_sdk_rust"];
    let _guard = sentry::init((dsn, options));
    sentry::start_session();

    sentry::configure_scope(|scope| {
        scope.set_user(Some(sentry::User {
            id: Some("4711".into()),
            username: Some("ada".into()),
            email: Some("ada@example.com".into()),
            ..Default::default()
        }));
        scope.set_tag("tern.matrix", "rust");
        scope.set_tag("shard", "7");
    });
    for step in ["opened the order form", "validated the order", "submitted the order"] {
        sentry::add_breadcrumb(sentry::Breadcrumb {
            category: Some("matrix".into()),
            message: Some(step.into()),
            level: sentry::Level::Info,
            ..Default::default()
        });
    }

    // The panic integration captures the panic in its hook, inside this
    // scope (so with the attachment); catch_unwind lets the program go on.
    let caught = sentry::with_scope(
        |scope| {
            scope.add_attachment(sentry::protocol::Attachment {
                buffer: b"order 4711: 3 items\n".to_vec(),
                filename: "order.txt".into(),
                content_type: Some("text/plain".into()),
                ..Default::default()
            })
        },
        || std::panic::catch_unwind(|| divide(3, std::hint::black_box(0))),
    );
    assert!(caught.is_err(), "divide did not panic");
    let exception_id = sentry::last_event_id().expect("the panic was not captured");

    let message_id =
        sentry::capture_message("tern matrix message: order queue is full", sentry::Level::Warning);

    sentry::end_session();
    let flushed = sentry::Hub::current()
        .client()
        .map(|c| c.flush(Some(Duration::from_secs(15))))
        .unwrap_or(false);
    println!(
        "{{\"exception_id\": \"{}\", \"message_id\": \"{}\"}}",
        exception_id.simple(),
        message_id.simple()
    );
    std::process::exit(if flushed { 0 } else { 1 });
}
