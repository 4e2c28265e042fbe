//! `process_attachment`: read the file back from S3 (GetObject, in the click's trace),
//! record its SHA-256 and, for text, its first line, for an image, its dimensions; the
//! row shows them. An object that vanished fails the record with a clear error (after
//! `maxReceiveCount` attempts: the DLQ).

use common::{db::Db, files::Bucket};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::RecordError;

/// At most this many characters of a text file are shown.
const PREVIEW_CHARS: usize = 80;

/// Returns false when the attachment no longer exists (its to-do was deleted).
pub async fn run(
    db: &Db,
    conn: &mut PgConnection,
    files: &Bucket,
    attachment_id: Uuid,
) -> Result<bool, RecordError> {
    const SELECT: &str = "SELECT key, content_type FROM attachments WHERE id = $1 FOR UPDATE";
    let found: Option<(String, String)> = db
        .run(
            db.span("SELECT attachments", SELECT),
            sqlx::query_as(SELECT)
                .bind(attachment_id)
                .fetch_optional(&mut *conn),
        )
        .await?;
    let Some((key, content_type)) = found else {
        return Ok(false);
    };
    let bytes = files.get(db.session(), &key).await?;
    let sha256 = hex(&Sha256::digest(&bytes));
    let seen = describe(&content_type, &bytes);
    const UPDATE: &str = "UPDATE attachments SET sha256 = $2, preview = $3, width = $4, height = $5 \
        WHERE id = $1";
    db.run(
        db.span("UPDATE attachments", UPDATE),
        sqlx::query(UPDATE)
            .bind(attachment_id)
            .bind(&sha256)
            .bind(seen.preview)
            .bind(seen.width)
            .bind(seen.height)
            .execute(conn),
    )
    .await?;
    Ok(true)
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub preview: Option<String>,
    pub width: Option<i32>,
    pub height: Option<i32>,
}

/// What a person would want to know at a glance: a text's first line, an image's size.
pub fn describe(content_type: &str, bytes: &[u8]) -> Seen {
    if content_type.starts_with("image/") {
        return match imagesize::blob_size(bytes) {
            Ok(size) => Seen {
                preview: None,
                width: i32::try_from(size.width).ok(),
                height: i32::try_from(size.height).ok(),
            },
            Err(_) => Seen::default(),
        };
    }
    if content_type.starts_with("text/") {
        let text = String::from_utf8_lossy(bytes);
        let line = text.lines().map(str::trim).find(|l| !l.is_empty());
        let preview = line.map(|l| {
            l.chars()
                .filter(|c| !c.is_control())
                .take(PREVIEW_CHARS)
                .collect()
        });
        return Seen {
            preview,
            ..Seen::default()
        };
    }
    Seen::default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_shows_its_first_line_and_images_their_size() {
        let text = describe("text/plain", b"\n  buy milk  \nand eggs");
        assert_eq!(text.preview.as_deref(), Some("buy milk"));
        // A 1×1 PNG: signature, IHDR with width 1 and height 1.
        let png = [
            0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0,
            0, 0, 3, 0, 0, 0, 2, 8, 6, 0, 0, 0,
        ];
        let image = describe("image/png", &png);
        assert_eq!((image.width, image.height), (Some(3), Some(2)));
        assert_eq!(describe("image/png", b"not a png"), Seen::default());
        assert_eq!(describe("application/pdf", b"%PDF"), Seen::default());
        assert_eq!(hex(&Sha256::digest(b"abc"))[..8], *"ba7816bf");
    }
}
