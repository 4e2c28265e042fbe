use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tests::{TestApp, binaries, eventually, traces::find};

use crate::DEADLINE;

#[tokio::test]
async fn adding_a_todo_is_one_connected_trace_from_browser_to_worker_database() {
    let app = TestApp::spawn(binaries!()).await;

    let response = app
        .post_form("/todos", &[("title", "buy milk for the #home party asap")])
        .await;
    assert_eq!(response.status(), 303, "add redirects back to the list");

    // The worker enriches the to-do; the list shows it.
    let todo = eventually("the worker to finish the enrich job", DEADLINE, || async {
        app.todos()
            .await
            .into_iter()
            .find(|t| t["job_state"] == "done")
    })
    .await;
    assert_eq!(todo["tags"], serde_json::json!(["home", "shopping"]));
    assert_eq!(todo["priority"], "high");
    let page = app.get_text("/").await;
    assert!(page.contains("buy milk for the #home party asap"), "{page}");
    assert!(
        page.contains("#shopping") && page.contains("enrich: done"),
        "{page}"
    );

    // One trace id covers the click, from the HTTP span to the worker's queries.
    let trace_id = todo["created_trace_id"]
        .as_str()
        .expect("trace id on the row")
        .to_owned();
    assert_eq!(
        todo["job_trace_id"],
        trace_id.as_str(),
        "the job row names the same trace"
    );
    let queue = app.queue_name.clone();
    let spans = eventually("the worker's spans to be exported", DEADLINE, || async {
        let spans = app.otlp.trace(&trace_id);
        // The web's spans arrive in their own batch; its server span ends last.
        let complete = find(&spans, "todo-worker", SpanKind::Client, "UPDATE jobs").is_some()
            && find(&spans, "todo-web", SpanKind::Server, "POST /todos").is_some();
        complete.then_some(spans)
    })
    .await;

    let server =
        find(&spans, "todo-web", SpanKind::Server, "POST /todos").expect("HTTP server span");
    assert_eq!(server.parent_span_id, "", "the click starts the trace");
    assert_eq!(server.attr_str("http.request.method"), Some("POST"));
    assert_eq!(server.attr_str("http.route"), Some("/todos"));
    assert_eq!(server.attr("http.response.status_code"), Some(&303.into()));
    assert_eq!(server.attr_str("url.path"), Some("/todos"));
    assert_eq!(server.attr_str("url.scheme"), Some("http"));

    let insert =
        find(&spans, "todo-web", SpanKind::Client, "INSERT todos").expect("DB insert span");
    assert_eq!(insert.parent_span_id, server.span_id);
    assert_eq!(insert.attr_str("db.system.name"), Some("postgresql"));
    assert_eq!(insert.attr_str("db.operation.name"), Some("INSERT"));
    assert_eq!(insert.attr_str("db.collection.name"), Some("todos"));
    let sql = insert.attr_str("db.query.text").expect("db.query.text");
    assert!(
        sql.starts_with("INSERT INTO todos") && sql.contains("$2"),
        "{sql}"
    );
    assert!(!sql.contains("milk"), "no values in db.query.text: {sql}");
    // Where it ran: the server and database of DATABASE_URL (postgres://user@host:port/db).
    let (server_part, database) = app.database_url.rsplit_once('/').unwrap();
    let (host, port) = server_part
        .rsplit_once('@')
        .unwrap()
        .1
        .rsplit_once(':')
        .unwrap();
    assert_eq!(insert.attr_str("server.address"), Some(host));
    assert_eq!(
        insert.attr("server.port"),
        Some(&port.parse::<i64>().unwrap().into())
    );
    assert_eq!(insert.attr_str("db.namespace"), Some(database));

    let producer = find(
        &spans,
        "todo-web",
        SpanKind::Producer,
        &format!("send {queue}"),
    )
    .expect("SQS producer span");
    assert_eq!(producer.parent_span_id, server.span_id);
    assert_eq!(producer.attr_str("messaging.system"), Some("aws_sqs"));
    assert_eq!(
        producer.attr_str("messaging.destination.name"),
        Some(queue.as_str())
    );
    let message_id = producer
        .attr_str("messaging.message.id")
        .expect("message id");
    assert!(!message_id.is_empty());
    assert_eq!(producer.attr_str("job.kind"), Some("enrich_todo"));
    assert!(producer.attr_str("job.id").is_some_and(|id| id.len() == 36));

    let consumer = find(
        &spans,
        "todo-worker",
        SpanKind::Consumer,
        &format!("process {queue}"),
    )
    .expect("worker consumer span");
    assert_eq!(
        consumer.parent_span_id, producer.span_id,
        "parent is the message's context"
    );
    assert!(
        consumer
            .links
            .contains(&(trace_id.clone(), producer.span_id.clone())),
        "the consumer also links to the producer: {:?}",
        consumer.links
    );
    assert_eq!(consumer.attr_str("messaging.message.id"), Some(message_id));
    assert_eq!(
        consumer.attr("messaging.batch.message_count"),
        Some(&1.into())
    );
    assert_eq!(
        consumer.attr("messaging.aws_sqs.approximate_receive_count"),
        Some(&1.into())
    );
    assert!(!consumer.is_error());

    for name in ["SELECT jobs", "UPDATE todos", "UPDATE jobs"] {
        let span = find(&spans, "todo-worker", SpanKind::Client, name)
            .unwrap_or_else(|| panic!("worker DB span {name}"));
        assert_eq!(
            span.parent_span_id, consumer.span_id,
            "{name} is under the consumer span"
        );
        assert_eq!(span.attr_str("db.system.name"), Some("postgresql"));
    }

    // The invocation span from lambda_runtime's layer: its own trace, with FaaS attributes.
    let invocation = app
        .otlp
        .spans()
        .into_iter()
        .find(|s| s.service == "todo-worker" && s.attr_str("faas.trigger") == Some("pubsub"))
        .expect("FaaS invocation span");
    assert_eq!(invocation.name, "todo-worker");
    assert!(invocation.attr_str("faas.invocation_id").is_some());
    assert_eq!(invocation.attr("faas.coldstart"), Some(&true.into()));
}
