//! Small helpers the pages share: query strings, times, and the lists that
//! forms carry one per line.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A choice in a `<select>`.
#[derive(Debug)]
pub struct Choice {
    /// What the form sends.
    pub value: String,
    /// What people read.
    pub label: String,
    /// Whether it is the current one.
    pub selected: bool,
}

/// Choices from `(value, label)` pairs, `current` selected.
pub fn choices(options: &[(&str, &str)], current: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|(value, label)| Choice {
            value: (*value).to_owned(),
            label: (*label).to_owned(),
            selected: *value == current,
        })
        .collect()
}

/// The name a value has in the API's JSON (`"revoked"`, `"secret"`, …).
pub fn wire_name<T: Serialize>(value: T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `value` encoded for a query string.
pub fn encode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// A query string (without `?`) of the pairs whose value is not empty.
pub fn query<K: AsRef<str> + Serialize>(pairs: &[(K, Option<String>)]) -> String {
    let present: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| (k.as_ref(), v))
        })
        .collect();
    serde_urlencoded::to_string(present).unwrap_or_default()
}

/// A time as people read it: `2026-11-24 21:40 UTC`.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// An optional time, with what to say when there is none.
pub fn time_or(t: Option<DateTime<Utc>>, none: &str) -> String {
    t.map_or_else(|| none.to_owned(), time)
}

/// A form control that an API field's errors belong to: the API's field
/// name (`trusted_origins`, also `trusted_origins[2]`), the control's `id`,
/// and its label as the page shows it.
pub type FieldLabel = (&'static str, &'static str, &'static str);

/// A form's errors, each at its control: the page puts the message next
/// to the control (with `aria-invalid` and `aria-describedby`) and lists
/// them all in a summary at the top that links to the controls.
#[derive(Debug, Default)]
pub struct FieldErrors {
    /// In the order the API gave them.
    pub items: Vec<FieldError>,
}

/// One error of a form.
#[derive(Debug)]
pub struct FieldError {
    /// The control's `id`; empty for an error of the whole form.
    pub id: &'static str,
    /// The control's label.
    pub label: &'static str,
    /// What is wrong, for people ("Line 2: not an IP address…").
    pub message: String,
}

impl FieldErrors {
    /// `errors` as (API field, message) placed at the controls of `fields`;
    /// a field no control holds is an error of the whole form.
    pub fn new(errors: &[(String, String)], fields: &[FieldLabel]) -> Self {
        let items = errors
            .iter()
            .map(|(field, message)| {
                let (base, index) = match field.split_once('[') {
                    Some((base, rest)) => (base, rest.trim_end_matches(']').parse::<usize>().ok()),
                    None => (field.as_str(), None),
                };
                let message = match index {
                    Some(i) => format!("Line {}: {message}", i + 1),
                    None => message.clone(),
                };
                match fields.iter().find(|(api, _, _)| *api == base) {
                    Some((_, id, label)) => FieldError { id, label, message },
                    None if field.is_empty() => FieldError {
                        id: "",
                        label: "",
                        message,
                    },
                    None => FieldError {
                        id: "",
                        label: "",
                        message: format!("{}: {message}", super::client::humanize(field)),
                    },
                }
            })
            .collect();
        Self { items }
    }

    /// No error at all.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The messages at the control `id`, joined.
    pub fn at(&self, id: &str) -> Option<String> {
        let messages: Vec<&str> = self
            .items
            .iter()
            .filter(|e| e.id == id)
            .map(|e| e.message.as_str())
            .collect();
        (!messages.is_empty()).then(|| messages.join(" "))
    }

    /// `aria-invalid` and `aria-describedby` for the control `id` when it
    /// has an error, or nothing. Rendered with `|safe`: the ids are the
    /// form's own `'static` control names.
    pub fn attrs(&self, id: &str) -> String {
        match self.items.iter().find(|e| e.id == id) {
            Some(e) => format!(r#" aria-invalid="true" aria-describedby="{}-error""#, e.id),
            None => String::new(),
        }
    }
}

/// A past time as a table shows it: how long ago ("3 minutes ago"), in a
/// `<time>` element that carries the exact UTC time for hover (`title`) and
/// for screen readers (visually hidden text). Rendered with `|safe`: every
/// part is made here from numbers.
#[derive(Debug, Clone)]
pub struct Ago {
    at: DateTime<Utc>,
    text: String,
}

impl Ago {
    /// `at`, said relative to `now`.
    pub fn new(at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        Self {
            at,
            text: relative(at, now),
        }
    }
}

impl std::fmt::Display for Ago {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let exact = time(self.at);
        write!(
            f,
            r#"<time datetime="{}" title="{exact}">{}<span class="visually-hidden"> ({exact})</span></time>"#,
            self.at.format("%Y-%m-%dT%H:%M:%SZ"),
            self.text
        )
    }
}

/// "just now", "5 minutes ago", "2 days ago", "in 3 hours"…
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds();
    let span = seconds.unsigned_abs();
    let (n, unit) = match span {
        0..60 => return "just now".to_owned(),
        60..3_600 => (span / 60, "minute"),
        3_600..86_400 => (span / 3_600, "hour"),
        86_400..2_592_000 => (span / 86_400, "day"),
        2_592_000..31_536_000 => (span / 2_592_000, "month"),
        _ => (span / 31_536_000, "year"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if seconds >= 0 {
        format!("{n} {unit}{plural} ago")
    } else {
        format!("in {n} {unit}{plural}")
    }
}

/// The non-empty lines of a text area, trimmed.
pub fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Words separated by commas, spaces or new lines.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `YYYY-MM-DD` as the start of that day, UTC, in RFC 3339.
pub fn day_start(date: &str) -> Option<String> {
    chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
        .ok()
        .map(|d| format!("{d}T00:00:00Z"))
}

/// `YYYY-MM-DD` as the start of the next day (an exclusive end), in RFC 3339.
pub fn day_end(date: &str) -> Option<String> {
    chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.succ_opt())
        .map(|d| format!("{d}T00:00:00Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_leave_out_empty_values_and_encode_the_rest() {
        let q = query(&[
            ("q", Some("a b&c".to_owned())),
            ("status", Some(String::new())),
            ("sort", None),
        ]);
        assert_eq!(q, "q=a+b%26c");
        assert_eq!(encode("/keys?x=1"), "%2Fkeys%3Fx%3D1");
    }

    #[test]
    fn dates_become_day_bounds() {
        assert_eq!(
            day_start("2026-02-28").as_deref(),
            Some("2026-02-28T00:00:00Z")
        );
        assert_eq!(
            day_end("2026-02-28").as_deref(),
            Some("2026-03-01T00:00:00Z")
        );
        assert_eq!(day_start("28/02/2026"), None);
    }

    #[test]
    fn relative_times_read_as_people_say_them() {
        use chrono::TimeDelta;
        let now = "2027-03-31T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let ago = |seconds| relative(now - TimeDelta::seconds(seconds), now);
        assert_eq!(ago(0), "just now");
        assert_eq!(ago(59), "just now");
        assert_eq!(ago(60), "1 minute ago");
        assert_eq!(ago(3 * 60 + 59), "3 minutes ago");
        assert_eq!(ago(3_600), "1 hour ago");
        assert_eq!(ago(2 * 86_400), "2 days ago");
        assert_eq!(ago(45 * 86_400), "1 month ago");
        assert_eq!(ago(800 * 86_400), "2 years ago");
        assert_eq!(ago(-7_200), "in 2 hours");
        let html = Ago::new(now - TimeDelta::minutes(3), now).to_string();
        assert_eq!(
            html,
            "<time datetime=\"2027-03-31T11:57:00Z\" title=\"2027-03-31 11:57 UTC\">3 minutes ago\
             <span class=\"visually-hidden\"> (2027-03-31 11:57 UTC)</span></time>"
        );
    }
}
