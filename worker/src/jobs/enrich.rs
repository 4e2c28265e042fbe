//! `enrich_todo`: derive tags and a priority from the title, as a user sees them appear
//! on the row a moment after adding it.

use common::db::Db;
use sqlx::PgConnection;
use uuid::Uuid;

/// Returns false when the to-do no longer exists.
pub async fn run(db: &Db, conn: &mut PgConnection, todo_id: Uuid) -> Result<bool, sqlx::Error> {
    const SELECT: &str = "SELECT title FROM todos WHERE id = $1";
    let title: Option<String> = db
        .run(
            db.span("SELECT todos", SELECT),
            sqlx::query_scalar(SELECT)
                .bind(todo_id)
                .fetch_optional(&mut *conn),
        )
        .await?;
    let Some(title) = title else { return Ok(false) };
    let (tags, priority) = derive(&title);
    const UPDATE: &str = "UPDATE todos SET tags = $2, priority = $3 WHERE id = $1";
    db.run(
        db.span("UPDATE todos", UPDATE),
        sqlx::query(UPDATE)
            .bind(todo_id)
            .bind(&tags)
            .bind(priority)
            .execute(conn),
    )
    .await?;
    Ok(true)
}

/// Keywords that suggest a tag; `#words` in the title are tags as written.
const TOPICS: &[(&str, &[&str])] = &[
    ("shopping", &["buy", "shop", "order", "groceries", "milk"]),
    ("calls", &["call", "phone", "ring"]),
    ("email", &["email", "mail", "reply", "write to"]),
    ("meeting", &["meet", "meeting", "standup", "1:1"]),
    (
        "code",
        &["fix", "bug", "deploy", "review", "refactor", "test"],
    ),
    ("home", &["clean", "laundry", "dishes", "garden"]),
];

const URGENT: &[&str] = &["urgent", "asap", "today", "now", "!!"];
const SOMEDAY: &[&str] = &["someday", "maybe", "eventually", "later"];

/// Tags (sorted, unique, at most 8) and priority `high` / `normal` / `low`.
pub fn derive(title: &str) -> (Vec<String>, &'static str) {
    let lower = title.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '#' || c == ':' || c == '!'))
        .filter(|w| !w.is_empty())
        .collect();
    let has = |needle: &str| {
        if needle.contains(' ') || needle.contains('!') {
            lower.contains(needle)
        } else {
            // "someday:", "urgent!" and "#home" still count as the plain word.
            words
                .iter()
                .any(|w| w.trim_start_matches('#').trim_end_matches([':', '!']) == needle)
        }
    };
    let mut tags: Vec<String> = words
        .iter()
        .filter_map(|w| w.strip_prefix('#'))
        .map(|t| t.trim_matches(|c: char| !c.is_alphanumeric()).to_owned())
        .filter(|t| !t.is_empty() && t.chars().count() <= 30)
        .collect();
    tags.extend(
        TOPICS
            .iter()
            .filter(|(_, keys)| keys.iter().any(|k| has(k)))
            .map(|(tag, _)| (*tag).to_owned()),
    );
    tags.sort();
    tags.dedup();
    tags.truncate(8);
    let priority = if URGENT.iter().any(|k| has(k)) {
        "high"
    } else if SOMEDAY.iter().any(|k| has(k)) {
        "low"
    } else {
        "normal"
    };
    (tags, priority)
}

#[cfg(test)]
mod tests {
    use super::derive;

    #[test]
    fn hashtags_and_topics_become_tags() {
        let (tags, priority) = derive("Buy milk for #Home party");
        assert_eq!(tags, vec!["home", "shopping"]);
        assert_eq!(priority, "normal");
    }

    #[test]
    fn urgency_and_someday_set_priority() {
        assert_eq!(derive("fix the login bug ASAP").1, "high");
        assert_eq!(derive("call mum!!").1, "high");
        assert_eq!(derive("learn the banjo someday").1, "low");
        assert_eq!(derive("someday: learn to juggle").1, "low");
        assert_eq!(derive("urgent! call the bank").1, "high");
    }

    #[test]
    fn odd_input_is_harmless() {
        assert_eq!(derive("#").0, Vec::<String>::new());
        assert_eq!(derive("<script>alert(1)</script>").1, "normal");
        let many: String = (0..20).map(|i| format!("#t{i} ")).collect();
        assert_eq!(derive(&many).0.len(), 8);
    }
}
