//! What the emails say: a key notice, rendered from the same payload as
//! its webhook, and the audit export. Plain text with a simple HTML part
//! (askama escapes it), no remote images, no tracking.

use askama::Template;
use keyward_core::email::{self, Recipient};
use keyward_core::id::MemberId;
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use serde_json::Value;

/// A message's subject and bodies.
#[derive(Debug)]
pub struct Content {
    /// The subject.
    pub subject: String,
    /// The plain text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// A file attached to a message.
#[derive(Debug)]
pub struct File {
    /// Its name.
    pub name: String,
    /// Its media type.
    pub content_type: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The message itself.
pub fn build(
    from: &Mailbox,
    to: &str,
    content: Content,
    file: Option<File>,
) -> Result<Message, String> {
    let to: Mailbox = to
        .parse()
        .map_err(|e| format!("the recipient's address cannot be used: {e}"))?;
    let alternative = MultiPart::alternative()
        .singlepart(SinglePart::plain(content.text))
        .singlepart(SinglePart::html(content.html));
    let body = match file {
        None => alternative,
        Some(file) => {
            let content_type = ContentType::parse(&file.content_type)
                .map_err(|e| format!("attachment type: {e}"))?;
            MultiPart::mixed()
                .multipart(alternative)
                .singlepart(Attachment::new(file.name).body(file.bytes, content_type))
        }
    };
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(content.subject)
        .multipart(body)
        .map_err(|e| format!("the message cannot be built: {e}"))
}

#[derive(Template)]
#[template(path = "email/notice.txt")]
struct NoticeText<'a> {
    notice: &'a Notice,
}

#[derive(Template)]
#[template(path = "email/notice.html")]
struct NoticeHtml<'a> {
    subject: &'a str,
    notice: &'a Notice,
}

/// The facts of a notice, shared by its two parts.
#[derive(Debug)]
struct Notice {
    headline: String,
    name: String,
    hint: String,
    id: String,
    status: String,
    facts: Vec<String>,
    advice: String,
    link: String,
    settings_link: String,
    reason: &'static str,
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// A URL anyone could have reported, made unclickable (`hxxps://…`): mail
/// clients turn URLs in a trusted sender's text into links.
fn defang(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{}://{rest}", scheme.replacen("tt", "xx", 1)),
        None => url.to_owned(),
    }
}

/// An RFC 3339 instant as `2027-03-31 00:00 UTC`.
fn when(value: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(value).map_or_else(
        |_| value.to_owned(),
        |t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
        },
    )
}

/// The notice about a key that `payload` (its webhook payload) reports, for
/// the member `member`; `None` when they no longer receive it.
pub fn notice(
    payload: &str,
    member: &MemberId,
    recipient: &Recipient,
    public_url: &str,
) -> Result<Option<Content>, String> {
    let payload: Value =
        serde_json::from_str(payload).map_err(|_| "the notice cannot be read".to_owned())?;
    let kind = text(&payload, "/type");
    let key = payload
        .pointer("/data/key")
        .ok_or("the notice names no key")?;
    let created_by = text(key, "/created_by");
    if !email::receives_notice(member, recipient.role, recipient.opted_out, created_by) {
        return Ok(None);
    }
    let name = text(key, "/name").to_owned();
    let status = text(key, "/status").to_owned();
    let (headline, facts, advice) = match kind {
        "key.expiring" => {
            let at = when(text(key, "/expires_at"));
            (
                format!("The API key \"{name}\" expires on {at}."),
                vec![format!("Expires: {at}")],
                "Regenerate it or move its expiry before then: after it, every service \
                 using it is refused (EXPIRED)."
                    .to_owned(),
            )
        }
        "key.expired" => (
            format!("The API key \"{name}\" has expired."),
            vec![format!("Expired: {}", when(text(key, "/expires_at")))],
            "Services still using it are refused (EXPIRED). If it is still needed, create \
             a new key or extend this one's expiry."
                .to_owned(),
        ),
        "key.leaked" => {
            let mut facts = vec![format!(
                "Reported: {} by {}",
                when(text(key, "/leaked_at")),
                match text(key, "/leak_source") {
                    "github" => "GitHub secret scanning",
                    _ => "a public report",
                }
            )];
            if let Some(url) = key.pointer("/leak_url").and_then(Value::as_str) {
                facts.push(format!(
                    "Found at (do not open it unless you trust it): {}",
                    defang(url)
                ));
            }
            let advice = match status.as_str() {
                "revoked" => {
                    "Keyward revoked it: every service using it is now refused. \
                              Create a replacement and find out how it leaked."
                }
                "disabled" => {
                    "Keyward disabled it, as the organization's key policy says: \
                               every service using it is refused. Regenerate it, then enable it."
                }
                _ => {
                    "The organization's key policy only notifies: the key still works for \
                      whoever found it. Regenerate it now."
                }
            };
            (
                format!("The API key \"{name}\" was found exposed in public."),
                facts,
                advice.to_owned(),
            )
        }
        "key.stale" => {
            let since = when(text(&payload, "/data/changes/stale_since/after"));
            let advice = if status == "disabled" {
                "Keyward disabled it, as the organization's key policy says. If no service \
                 needs it, revoke it; otherwise enable it."
            } else {
                "If no service needs it any more, revoke it."
            };
            (
                format!("The API key \"{name}\" has not been used since {since}."),
                vec![format!(
                    "Last used: {}",
                    key.pointer("/last_used_at")
                        .and_then(Value::as_str)
                        .map_or_else(|| "never".to_owned(), when)
                )],
                advice.to_owned(),
            )
        }
        other => return Err(format!("{other} is not mailed as a notice")),
    };
    let base = public_url.trim_end_matches('/');
    let notice = Notice {
        headline,
        name,
        hint: text(key, "/hint").to_owned(),
        id: text(key, "/id").to_owned(),
        status,
        facts,
        advice,
        link: format!("{base}/keys/{}", text(key, "/id")),
        settings_link: format!("{base}/account/password"),
        reason: if created_by == member.as_str() {
            "you created this key"
        } else {
            "you are an owner or admin of its organization"
        },
    };
    let subject = format!("[Keyward] {}", notice.headline.trim_end_matches('.'));
    let text = NoticeText { notice: &notice }
        .render()
        .map_err(|e| e.to_string())?;
    let html = NoticeHtml {
        subject: &subject,
        notice: &notice,
    }
    .render()
    .map_err(|e| e.to_string())?;
    Ok(Some(Content {
        subject,
        text,
        html,
    }))
}

#[derive(Template)]
#[template(path = "email/export.txt")]
struct ExportText<'a> {
    export: &'a Export,
}

#[derive(Template)]
#[template(path = "email/export.html")]
struct ExportHtml<'a> {
    subject: &'a str,
    export: &'a Export,
}

/// What the export's email says.
#[derive(Debug)]
pub struct Export {
    /// The attachment's name (also when it is a link).
    pub file_name: String,
    /// Its size, for people.
    pub size: String,
    /// The one-time link, when it is too large to attach.
    pub link: Option<String>,
    /// When it was asked for.
    pub requested_at: String,
    /// `csv` or `jsonl`.
    pub format: &'static str,
    /// The filters, for people.
    pub filters: String,
    /// Who it is for.
    pub recipient: String,
}

/// The export's email.
pub fn export(export: &Export) -> Result<Content, String> {
    let subject = "[Keyward] Your audit log export".to_owned();
    let text = ExportText { export }.render().map_err(|e| e.to_string())?;
    let html = ExportHtml {
        subject: &subject,
        export,
    }
    .render()
    .map_err(|e| e.to_string())?;
    Ok(Content {
        subject,
        text,
        html,
    })
}

/// A size for people: `812 bytes`, `1.4 MB`.
pub fn size(bytes: usize) -> String {
    #[allow(clippy::cast_precision_loss, reason = "a size shown to one decimal")]
    let value = bytes as f64;
    if bytes < 1000 {
        format!("{bytes} bytes")
    } else if bytes < 1_000_000 {
        format!("{:.1} kB", value / 1e3)
    } else {
        format!("{:.1} MB", value / 1e6)
    }
}
