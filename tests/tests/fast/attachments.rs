//! Attachments (issue 37, web's half): upload, list, download, delete, and the lookup
//! that asks the object itself, against moto's S3.

use axum::body::Body;
use sqlx::PgPool;
use tests::fast::{FastApp, Reply};

const BOUNDARY: &str = "----traced-todo-test";

/// A multipart body with one part `field`, holding `bytes` named `name`.
fn multipart(field: &str, name: &str, content_type: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n\
         Content-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload(app: &FastApp, todo: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Reply {
    let mut request = axum::http::Request::post(format!("/todos/{todo}/attachments")).header(
        "content-type",
        format!("multipart/form-data; boundary={BOUNDARY}"),
    );
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    app.send(request.body(Body::from(body)).unwrap()).await
}

async fn a_todo(app: &FastApp, cookie: &str) -> String {
    assert_eq!(
        app.post_form("/todos", "title=file+it", &[("cookie", cookie)])
            .await
            .status,
        303
    );
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM todos ORDER BY created_at DESC")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    id.to_string()
}

/// Uploads a small text file to `todo` as ada; the new attachment's id.
async fn attach(app: &FastApp, todo: &str, name: &str) -> uuid::Uuid {
    let body = multipart("file", name, "text/plain", name.as_bytes());
    let reply = upload(app, todo, body, &[("cookie", "user=ada")]).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    sqlx::query_scalar("SELECT id FROM attachments WHERE name = $1")
        .bind(name)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn objects(app: &FastApp) -> Vec<String> {
    app.s3
        .list_objects_v2()
        .bucket(&app.bucket)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn an_upload_stores_the_object_with_its_request_and_the_row_links_it(pool: PgPool) {
    let app = FastApp::new(pool.clone()).await;
    let todo = a_todo(&app, "user=ada").await;
    let (traceparent, trace) = tests::app::new_traceparent();
    let reply = upload(
        &app,
        &todo,
        multipart("file", "../notes.txt", "text/plain", b"buy milk"),
        &[("cookie", "user=ada"), ("traceparent", &traceparent)],
    )
    .await;
    assert_eq!(reply.status, 303, "{}", reply.body);

    let view: serde_json::Value = serde_json::from_str(
        &app.get(&format!("/api/todos/{todo}"), &[("cookie", "user=ada")])
            .await
            .body,
    )
    .unwrap();
    let file = &view["attachments"][0];
    assert_eq!(file["name"], "notes.txt", "the last path segment only");
    assert_eq!(file["size"], 8);
    assert_eq!(file["trace_id"], trace.as_str());
    assert_eq!(file["sha256"], serde_json::Value::Null);
    let key = file["key"].as_str().unwrap();
    assert!(key.starts_with(&format!("attachments/{todo}/")), "{key}");
    assert_eq!(objects(&app).await, [key]);

    // The object answers for itself, even once its row is gone.
    sqlx::query("DELETE FROM attachments")
        .execute(&pool)
        .await
        .unwrap();
    let lookup = app.get(&format!("/api/files/lookup?key={key}"), &[]).await;
    assert_eq!(lookup.status, 200, "{}", lookup.body);
    let lookup: serde_json::Value = serde_json::from_str(&lookup.body).unwrap();
    assert_eq!(lookup["trace_id"], trace.as_str());
    assert_eq!(lookup["uploaded_by"], "ada");
    assert_eq!(lookup["bucket"], app.bucket.as_str());
    assert_eq!(
        app.get("/api/files/lookup?key=attachments/none", &[])
            .await
            .status,
        404
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_owner_downloads_it_as_an_attachment_and_nobody_else_does(pool: PgPool) {
    let app = FastApp::new(pool).await;
    let todo = a_todo(&app, "user=ada").await;
    let reply = upload(
        &app,
        &todo,
        multipart("file", "plan <v2>.txt", "text/plain", b"step one"),
        &[("cookie", "user=ada")],
    )
    .await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM attachments")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let download = app
        .get(&format!("/attachments/{id}"), &[("cookie", "user=ada")])
        .await;
    assert_eq!(download.status, 200);
    assert_eq!(download.body, "step one");
    assert_eq!(download.headers["content-type"], "text/plain");
    assert_eq!(
        download.headers["content-disposition"],
        "attachment; filename*=UTF-8''plan%20%3Cv2%3E%2Etxt"
    );
    assert_eq!(download.headers["x-content-type-options"], "nosniff");
    for other in [&[("cookie", "user=bob")][..], &[]] {
        assert_eq!(
            app.get(&format!("/attachments/{id}"), other).await.status,
            404
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_uploads_get_a_clear_4xx_and_store_nothing(pool: PgPool) {
    let app = FastApp::with(pool.clone(), &["--attachment-max-bytes", "1024"]).await;
    let todo = a_todo(&app, "user=ada").await;
    let ada = [("cookie", "user=ada")];
    let cases: [(Vec<u8>, u16, &str); 4] = [
        (
            multipart("file", "big.bin", "application/octet-stream", &[7; 1025]),
            413,
            "larger than",
        ),
        (
            multipart("file", "empty.txt", "text/plain", b""),
            422,
            "empty",
        ),
        (
            multipart("other", "x.txt", "text/plain", b"x"),
            400,
            "no file",
        ),
        (b"--nope\r\n garbage".to_vec(), 400, "multipart"),
    ];
    for (body, status, says) in cases {
        let reply = upload(&app, &todo, body, &ada).await;
        assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
        assert!(reply.body.contains(says), "{}", reply.body);
    }
    // At the limit it is taken (and with the default limit, a file far past the forms'
    // 16 KiB: see below).
    let at_limit = multipart("file", "ok.bin", "application/octet-stream", &[7; 1024]);
    assert_eq!(upload(&app, &todo, at_limit, &ada).await.status, 303);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM attachments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
    assert_eq!(objects(&app).await.len(), 1);
    // Not someone else's to-do, not a cross-site form.
    let bob = upload(
        &app,
        &todo,
        multipart("file", "x", "text/plain", b"x"),
        &[("cookie", "user=bob")],
    )
    .await;
    assert_eq!(bob.status, 404);
    let forged = upload(
        &app,
        &todo,
        multipart("file", "x", "text/plain", b"x"),
        &[("cookie", "user=ada"), ("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_eq!(forged.status, 403);
    assert_eq!(objects(&app).await.len(), 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn storage_unavailable_answers_503_and_leaves_nothing_half_stored(pool: PgPool) {
    let app = FastApp::new(pool.clone()).await;
    let todo = a_todo(&app, "user=ada").await;
    let ada = [("cookie", "user=ada")];
    let on = app
        .put_json("/api/faults/storage_unavailable", r#"{"enabled": true}"#)
        .await;
    assert_eq!(on.status, 200, "{}", on.body);
    let reply = upload(
        &app,
        &todo,
        multipart("file", "a.txt", "text/plain", b"a"),
        &ada,
    )
    .await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(
        reply.body.contains("File storage is unavailable"),
        "{}",
        reply.body
    );
    assert!(reply.body.contains(r#"id="trace-id""#));
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM attachments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
    assert!(objects(&app).await.is_empty());
}

#[sqlx::test(migrations = "../migrations")]
async fn deleting_an_attachment_removes_its_row_and_its_object(pool: PgPool) {
    let app = FastApp::new(pool.clone()).await;
    let todo = a_todo(&app, "user=ada").await;
    let ada = [("cookie", "user=ada")];
    let id = attach(&app, &todo, "a.txt").await;
    let deleted = app
        .post_form(&format!("/attachments/{id}/delete"), "", &ada)
        .await;
    assert_eq!(deleted.status, 303);
    assert!(objects(&app).await.is_empty());
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM attachments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 0);

    // While S3 is down the row still goes; its object stays, an orphan (never a row
    // without its object).
    let id = attach(&app, &todo, "b.txt").await;
    app.put_json("/api/faults/storage_unavailable", r#"{"enabled": true}"#)
        .await;
    let deleted = app
        .post_form(&format!("/attachments/{id}/delete"), "", &ada)
        .await;
    assert_eq!(deleted.status, 303);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM attachments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
    assert_eq!(objects(&app).await.len(), 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_row_lists_its_files_and_the_lookup_page_asks_the_object(pool: PgPool) {
    let app = FastApp::new(pool).await;
    let todo = a_todo(&app, "user=ada").await;
    let ada = [("cookie", "user=ada")];
    let (traceparent, trace) = tests::app::new_traceparent();
    let reply = upload(
        &app,
        &todo,
        multipart("file", "notes.txt", "text/plain", b"hello"),
        &[("cookie", "user=ada"), ("traceparent", &traceparent)],
    )
    .await;
    assert_eq!(reply.status, 303);
    let page = app.get("/", &ada).await.body;
    assert!(
        page.contains(r#"class="name" href="/attachments/"#),
        "{page}"
    );
    assert!(
        page.contains(">notes.txt</a>") && page.contains("5 B, text/plain"),
        "{page}"
    );
    assert!(
        page.contains("by ada at"),
        "who stored it, and when: {page}"
    );
    assert!(
        page.contains("checking…"),
        "no checksum before the job: {page}"
    );
    assert!(page.contains(&format!("http://localhost:16686/trace/{trace}")));
    assert!(page.contains(r#"enctype="multipart/form-data""#));

    let empty = app.get("/files/lookup", &[]).await;
    assert_eq!(empty.status, 200);
    assert!(!empty.body.contains(r#"id="stored-by""#));
    let key: String = sqlx::query_scalar("SELECT key FROM attachments")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let found = app.get(&format!("/files/lookup?key={key}"), &[]).await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert!(
        found
            .body
            .contains(&format!("http://localhost:16686/trace/{trace}"))
    );
    assert!(found.body.contains("<dd>ada</dd>"), "{}", found.body);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_row_that_cannot_be_stored_takes_its_object_with_it(pool: PgPool) {
    let app = FastApp::new(pool.clone()).await;
    let todo = a_todo(&app, "user=ada").await;
    // The row's insert fails after the object is stored.
    tests::fast::refuse_inserts(&pool, "attachments").await;
    let reply = upload(
        &app,
        &todo,
        multipart("file", "a.txt", "text/plain", b"a"),
        &[("cookie", "user=ada")],
    )
    .await;
    assert!(reply.status.is_server_error(), "{}", reply.status);
    assert!(objects(&app).await.is_empty(), "no object without its row");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_file_far_past_the_forms_16_kib_is_taken_up_to_its_own_limit(pool: PgPool) {
    let app = FastApp::new(pool).await;
    let todo = a_todo(&app, "user=ada").await;
    let ada = [("cookie", "user=ada")];
    let big = vec![b'x'; 100 * 1024];
    let reply = upload(
        &app,
        &todo,
        multipart("file", "big.txt", "text/plain", &big),
        &ada,
    )
    .await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    let max = 5 * 1024 * 1024;
    let over = vec![b'x'; max + 1];
    let reply = upload(
        &app,
        &todo,
        multipart("file", "over.txt", "text/plain", &over),
        &ada,
    )
    .await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert_eq!(objects(&app).await.len(), 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn each_priced_call_counts_for_the_user_it_was_made_for(pool: PgPool) {
    let app = FastApp::new(pool).await;
    let todo = a_todo(&app, "user=ada").await;
    let id = attach(&app, &todo, "bill.txt").await;
    let ada = [("cookie", "user=ada")];
    let key: String = sqlx::query_scalar("SELECT key FROM attachments WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        app.get(&format!("/attachments/{id}"), &ada).await.status,
        200
    );
    // A guest's lookup is the guest's call, not ada's.
    assert_eq!(
        app.get(&format!("/api/files/lookup?key={key}"), &[])
            .await
            .status,
        200
    );
    let deleted = app
        .post_form(&format!("/attachments/{id}/delete"), "", &ada)
        .await;
    assert_eq!(deleted.status, 303, "{}", deleted.body);

    let overview = app.get("/api/insights", &[]).await;
    let overview: serde_json::Value = serde_json::from_str(&overview.body).unwrap();
    let usage = |user: &str| tests::find_in(&overview["users"], "user", user)["usage"].clone();
    let ada = usage("ada");
    // The add's job and the upload's: two SendMessage; one PutObject; one GetObject (the
    // download); DeleteObject is free; the file is gone, so nothing is stored.
    assert_eq!(ada["sqs_requests"], 2, "{ada}");
    assert_eq!(ada["s3_puts"], 1, "{ada}");
    assert_eq!(ada["s3_gets"], 1, "{ada}");
    assert_eq!(ada["bytes_stored"], 0, "{ada}");
    assert!(ada["web_cpu_s"].as_f64().unwrap() > 0.0, "{ada}");
    assert!(ada["db_s"].as_f64().unwrap() > 0.0, "{ada}");
    assert_eq!(usage("guest")["s3_gets"], 1, "the guest's HeadObject");
}

#[sqlx::test(migrations = "../migrations")]
async fn stored_bytes_are_priced_by_the_month(pool: PgPool) {
    let app = FastApp::with(pool, &["--prices", "s3_gb_month=1073741824"]).await;
    let todo = a_todo(&app, "user=ada").await;
    attach(&app, &todo, "twelve bytes").await;
    let overview = app.get("/api/insights", &[]).await;
    let overview: serde_json::Value = serde_json::from_str(&overview.body).unwrap();
    let ada = tests::find_in(&overview["users"], "user", "ada");
    assert_eq!(ada["usage"]["bytes_stored"], 12, "{ada}");
    // A dollar per byte-month at this price.
    assert_eq!(ada["cost"]["storage_usd_per_month"], 12.0, "{ada}");
}
