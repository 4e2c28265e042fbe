//! Which request stored this file on S3? An upload is one trace: the click, its S3 PUT,
//! its rows, the job through SQS, the worker's S3 GET and its update.

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use sha2::Digest;
use tests::{TestApp, binaries, eventually};

use crate::DEADLINE;

const BOUNDARY: &str = "----traced-todo-e2e";

fn multipart(name: &str, content_type: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

#[tokio::test]
async fn an_upload_is_one_trace_from_the_click_through_s3_to_the_workers_read_back() {
    let app = TestApp::spawn(binaries!()).await;
    let ada = app.sign_in("ada").await;
    assert_eq!(
        app.post_as(&ada, "/todos", &[("title", "file the taxes")])
            .await
            .status(),
        303
    );
    let todo: uuid::Uuid = sqlx::query_scalar("SELECT id FROM todos")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let (traceparent, trace_id) = tests::app::new_traceparent();
    let body = b"receipts: 12\nmore later";
    let response = app
        .http
        .post(app.url(&format!("/todos/{todo}/attachments")))
        .header("cookie", &ada)
        .header("traceparent", traceparent)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart("receipts.txt", "text/plain", body))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);

    // The worker read it back: checksum and preview on the row.
    let file = eventually("the worker's checksum", DEADLINE, || async {
        let view: serde_json::Value = app
            .get_as(&ada, &format!("/api/todos/{todo}"))
            .await
            .json()
            .await
            .unwrap();
        let file = view["attachments"][0].clone();
        file["sha256"].is_string().then_some(file)
    })
    .await;
    let sha256: String = sha2::Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(file["sha256"], sha256.as_str());
    assert_eq!(file["preview"], "receipts: 12");
    let key = file["key"].as_str().unwrap().to_owned();

    let spans = app
        .trace_where(&trace_id, "the upload's whole trace", DEADLINE, |spans| {
            let has = |service: &str, name: &str| {
                spans.iter().any(|s| s.service == service && s.name == name)
            };
            // Each process's spans arrive in batches of their own, web's SERVER span last.
            has("todo-web", "POST /todos/{id}/attachments")
                && has("todo-web", "S3.PutObject")
                && has("todo-web", "INSERT attachments")
                && has("todo-worker", "S3.GetObject")
                && has("todo-worker", "UPDATE attachments")
        })
        .await;
    let find = |service: &str, name: &str| {
        spans
            .iter()
            .find(|s| s.service == service && s.name == name)
            .unwrap_or_else(|| panic!("{service} {name}: {spans:#?}"))
    };
    let server = find("todo-web", "POST /todos/{id}/attachments");
    let put = find("todo-web", "S3.PutObject");
    assert_eq!(put.kind, SpanKind::Client);
    assert_eq!(put.parent_span_id, server.span_id);
    for (key_name, value) in [
        ("rpc.system", "aws-api"),
        ("rpc.service", "S3"),
        ("rpc.method", "PutObject"),
        ("aws.s3.bucket", app.bucket.as_str()),
        ("aws.s3.key", key.as_str()),
        ("enduser.id", "ada"),
    ] {
        assert_eq!(put.attr_str(key_name), Some(value), "{key_name}: {put:?}");
    }
    assert_eq!(
        put.attr("http.request.body.size"),
        Some(&(body.len() as i64).into())
    );
    let insert = find("todo-web", "INSERT attachments");
    assert_eq!(insert.parent_span_id, server.span_id);
    let consumer = spans
        .iter()
        .find(|s| {
            s.kind == SpanKind::Consumer && s.attr_str("job.kind") == Some("process_attachment")
        })
        .expect("the job's consumer span");
    let get = find("todo-worker", "S3.GetObject");
    assert_eq!(get.kind, SpanKind::Client);
    assert_eq!(get.parent_span_id, consumer.span_id);
    assert_eq!(get.attr_str("aws.s3.key"), Some(key.as_str()));
    assert_eq!(
        get.attr("http.response.body.size"),
        Some(&(body.len() as i64).into())
    );

    // The object answers for itself once its row is gone.
    sqlx::query("DELETE FROM todos")
        .execute(&app.db)
        .await
        .unwrap();
    let lookup: serde_json::Value = app
        .get(&format!("/api/files/lookup?key={key}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(lookup["trace_id"], trace_id.as_str());
    assert_eq!(lookup["uploaded_by"], "ada");
}

async fn add_todo(app: &TestApp, cookie: &str, title: &str) -> uuid::Uuid {
    assert_eq!(
        app.post_as(cookie, "/todos", &[("title", title)])
            .await
            .status(),
        303
    );
    sqlx::query_scalar("SELECT id FROM todos WHERE title = $1")
        .bind(title)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn upload(
    app: &TestApp,
    cookie: &str,
    todo: uuid::Uuid,
    bytes: &[u8],
) -> (reqwest::Response, String) {
    let (traceparent, trace_id) = tests::app::new_traceparent();
    let response = app
        .http
        .post(app.url(&format!("/todos/{todo}/attachments")))
        .header("cookie", cookie)
        .header("traceparent", traceparent)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart("notes.txt", "text/plain", bytes))
        .send()
        .await
        .unwrap();
    (response, trace_id)
}

#[tokio::test]
async fn storage_unavailable_fails_the_upload_in_its_s3_span_and_leaves_nothing_behind() {
    let app = TestApp::web_only(binaries!()).await;
    let ada = app.sign_in("ada").await;
    let todo = add_todo(&app, &ada, "keep the receipts").await;
    app.set_fault(
        "storage_unavailable",
        serde_json::json!({ "enabled": true }),
    )
    .await;
    let (response, trace_id) = upload(&app, &ada, todo, b"receipt").await;
    assert_eq!(response.status(), 503);
    let html = response.text().await.unwrap();
    assert!(html.contains("File storage is unavailable") && html.contains(&trace_id));

    let spans = app
        .trace_where(&trace_id, "the failed upload", DEADLINE, |spans| {
            spans.iter().any(|s| s.kind == SpanKind::Server)
        })
        .await;
    let server = spans.iter().find(|s| s.kind == SpanKind::Server).unwrap();
    assert!(server.is_error());
    assert_eq!(server.attr("http.response.status_code"), Some(&503.into()));
    let put = spans
        .iter()
        .find(|s| s.name == "S3.PutObject")
        .expect("the S3 span");
    assert!(put.is_error(), "{put:?}");
    assert!(
        tests::traces::is_marked(put, "storage_unavailable"),
        "{put:?}"
    );
    assert_eq!(put.attr_str("error.type"), Some("storage_unavailable"));
    assert!(put.events.iter().any(|e| e == "exception"));
    assert!(
        !spans.iter().any(|s| s.name == "INSERT attachments"),
        "no row for a file that was not stored"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM attachments")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    let objects = app
        .s3
        .list_objects_v2()
        .bucket(&app.bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(objects.key_count(), Some(0));
}

#[tokio::test]
async fn a_job_for_an_object_that_vanished_dies_with_a_clear_error() {
    let app = TestApp::spawn_with(
        binaries!(),
        tests::app::Options {
            visibility_timeout: 4,
            ..Default::default()
        },
    )
    .await;
    let ada = app.sign_in("ada").await;
    let todo = add_todo(&app, &ada, "scan the letter").await;
    // The first attempt fails before it reads the object (the fault), and the object goes
    // at once: every later attempt finds it gone.
    app.set_fault(
        "worker_error",
        serde_json::json!({ "enabled": true, "params": { "fail_first_attempts": 1 } }),
    )
    .await;
    let (response, trace_id) = upload(&app, &ada, todo, b"letter").await;
    assert_eq!(response.status(), 303);
    let key: String = sqlx::query_scalar("SELECT key FROM attachments")
        .fetch_one(&app.db)
        .await
        .unwrap();
    app.s3
        .delete_object()
        .bucket(&app.bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let last_error = eventually("the job to die", DEADLINE, || async {
        let (state, error): (String, Option<String>) =
            sqlx::query_as("SELECT state, last_error FROM jobs WHERE kind = 'process_attachment'")
                .fetch_one(&app.db)
                .await
                .unwrap();
        (state == "dead").then_some(error)
    })
    .await;
    assert_eq!(last_error.as_deref(), Some(&*format!("no object {key}")));
    let spans = app
        .trace_where(&trace_id, "three attempts", DEADLINE, |s| {
            s.iter()
                .filter(|s| s.kind == SpanKind::Consumer && s.is_error())
                .count()
                == 3
        })
        .await;
    let missing: Vec<_> = spans.iter().filter(|s| s.name == "S3.GetObject").collect();
    assert_eq!(missing.len(), 2, "attempts 2 and 3 asked S3");
    assert!(
        missing
            .iter()
            .all(|s| s.is_error() && s.attr_str("error.type") == Some("object_missing"))
    );
    eventually("the message in the DLQ", DEADLINE, || async {
        (app.queue_depth(&app.dlq_url).await == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn bad_uploads_foreign_downloads_and_cross_site_uploads_are_refused_over_http() {
    let app = TestApp::spawn_with(
        binaries!(),
        tests::app::Options {
            with_worker: false,
            env: vec![("ATTACHMENT_MAX_BYTES", "1024".into())],
            ..Default::default()
        },
    )
    .await;
    let ada = app.sign_in("ada").await;
    let bob = app.sign_in("bob").await;
    let todo = add_todo(&app, &ada, "mine").await;
    let post = |cookie: &str, body: Vec<u8>, extra: Option<(&'static str, &'static str)>| {
        let mut request = app
            .http
            .post(app.url(&format!("/todos/{todo}/attachments")))
            .header("cookie", cookie)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            // A refused body may be left unread: no reuse of that connection.
            .header("connection", "close")
            .body(body);
        if let Some((k, v)) = extra {
            request = request.header(k, v);
        }
        request.send()
    };
    let too_big = post(
        &ada,
        multipart("big.bin", "application/octet-stream", &[1; 1025]),
        None,
    )
    .await
    .unwrap();
    assert_eq!(too_big.status(), 413);
    let empty = post(&ada, multipart("e.txt", "text/plain", b""), None)
        .await
        .unwrap();
    assert_eq!(empty.status(), 422);
    let garbage = post(&ada, b"--nope\r\nnot multipart".to_vec(), None)
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    let not_hers = post(&bob, multipart("x.txt", "text/plain", b"x"), None)
        .await
        .unwrap();
    assert_eq!(not_hers.status(), 404, "bob cannot attach to ada's to-do");
    let forged = post(
        &ada,
        multipart("x.txt", "text/plain", b"x"),
        Some(("origin", "https://evil.example")),
    )
    .await
    .unwrap();
    assert_eq!(forged.status(), 403);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM attachments")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 0, "nothing stored");

    let (stored, _) = upload(&app, &ada, todo, b"ok").await;
    assert_eq!(stored.status(), 303);
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM attachments")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let hers = app.get_as(&ada, &format!("/attachments/{id}")).await;
    assert_eq!(hers.status(), 200);
    assert!(
        hers.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    assert_eq!(hers.text().await.unwrap(), "ok");
    assert_eq!(
        app.get_as(&bob, &format!("/attachments/{id}"))
            .await
            .status(),
        404
    );
}
