#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use keyward_core::key_format::KeyPrefix;

fn key(prefix: &str, key_type: KeyType) -> String {
    FullKey::generate(&KeyPrefix::parse(prefix).unwrap(), key_type)
        .unwrap()
        .expose()
        .to_owned()
}

/// (line, column, key) of every key in `text`, read `chunk` bytes at a time.
fn found_with(finder: &Finder, text: &[u8]) -> Vec<(u64, u64, String)> {
    let mut buf = finder.buffer();
    match finder.scan(text, &mut buf, Binary::Skip).unwrap() {
        Scanned::Text { hits, bytes } => {
            assert_eq!(bytes, text.len() as u64);
            hits.into_iter()
                .map(|hit| (hit.line, hit.column, hit.key.expose().to_owned()))
                .collect()
        }
        Scanned::Binary => panic!("read as binary"),
    }
}

fn found(text: &str) -> Vec<(u64, u64, String)> {
    found_with(&Finder::new().unwrap(), text.as_bytes())
}

#[test]
fn finds_keys_with_their_line_and_column() {
    let secret = key("kw", KeyType::Secret);
    let publishable = key("acme", KeyType::Publishable);
    let text = format!("first line\nAPI_KEY={secret}\n\n  \"pk\": \"{publishable}\",\n");
    assert_eq!(
        found(&text),
        vec![(2, 9, secret.clone()), (4, 10, publishable.clone())]
    );
    let mut buf = Finder::new().unwrap().buffer();
    let Scanned::Text { hits, .. } = Finder::new()
        .unwrap()
        .scan(text.as_bytes(), &mut buf, Binary::Skip)
        .unwrap()
    else {
        panic!("read as binary");
    };
    assert_eq!(hits[0].key_type, KeyType::Secret);
    assert_eq!(hits[0].prefix, "kw");
    assert_eq!(hits[1].key_type, KeyType::Publishable);
    assert_eq!(hits[1].prefix, "acme");
    assert!(hits[1].hint.starts_with("acme_pk_"));
    assert!(
        !hits[1]
            .hint
            .contains(&publishable["acme_pk_".len()..][4..34])
    );
}

#[test]
fn several_keys_on_one_line() {
    let keys: Vec<String> = (0..3).map(|_| key("kw", KeyType::Secret)).collect();
    let text = format!("var a=\"{}\",b=[\"{}\"];c({})", keys[0], keys[1], keys[2]);
    let columns: Vec<u64> = keys
        .iter()
        .map(|k| text.find(k.as_str()).unwrap() as u64 + 1)
        .collect();
    assert_eq!(
        found(&text),
        keys.iter()
            .zip(columns)
            .map(|(k, column)| (1, column, k.clone()))
            .collect::<Vec<_>>()
    );
}

#[test]
fn near_misses_are_not_keys() {
    let good = key("kw", KeyType::Secret);
    // The same shape with the last checksum character changed.
    let last = good.as_bytes()[good.len() - 1];
    let wrong_sum = format!(
        "{}{}",
        &good[..good.len() - 1],
        if last == b'A' { 'B' } else { 'A' }
    );
    let short = &good[..good.len() - 1];
    let long_run = format!("{good}x");
    let upper_prefix = good.replacen("kw", "KW", 1);
    let text = format!("{wrong_sum}\n{short}\n{long_run}\n{upper_prefix}\n{good}_\n");
    assert_eq!(found(&text), vec![(5, 1, good)]);
}

#[test]
fn a_prefix_run_longer_than_the_prefix_finds_the_key_inside() {
    let short = key("kw", KeyType::Secret);
    let longest = key("abcdefghijklmnop", KeyType::Publishable);
    let text = format!("tokenxyzzy0123456789{short} Z9{longest}");
    let short_at = text.find(&short).unwrap() as u64 + 1;
    let longest_at = text.find(&longest).unwrap() as u64 + 1;
    assert_eq!(
        found(&text),
        vec![(1, short_at, short), (1, longest_at, longest)]
    );
}

#[test]
fn binary_streams_are_skipped_only_when_asked() {
    let secret = key("kw", KeyType::Secret);
    let text = format!("\0\u{1}ELF {secret}");
    let finder = Finder::new().unwrap();
    let mut buf = finder.buffer();
    assert!(matches!(
        finder
            .scan(text.as_bytes(), &mut buf, Binary::Skip)
            .unwrap(),
        Scanned::Binary
    ));
    let Scanned::Text { hits, .. } = finder
        .scan(text.as_bytes(), &mut buf, Binary::Scan)
        .unwrap()
    else {
        panic!("skipped");
    };
    assert_eq!(hits.len(), 1);
    // A NUL after the first 8 KiB does not make a file binary.
    let late = format!("{}\0{secret}", "a".repeat(BINARY_PROBE));
    assert_eq!(found(&late).len(), 1);
}

#[test]
fn chunk_boundaries_change_nothing() {
    // Keys, near misses and newlines at every distance from a chunk's end.
    let mut text = String::new();
    let mut expected = 0;
    for i in 0..40 {
        let k = key(
            if i % 3 == 0 { "kw" } else { "abcdefghijklmnop" },
            KeyType::Secret,
        );
        text.push_str(&"x".repeat(i % 7));
        match i % 5 {
            0 => text.push_str(&format!("{k}Q")),
            1 => text.push_str(&format!("{k}\n")),
            _ => {
                text.push_str(&format!("zz{k} "));
            }
        }
        expected += usize::from(i % 5 != 0);
        text.push_str(&"y\n".repeat(i % 3));
    }
    let whole = found(&text);
    assert_eq!(whole.len(), expected);
    for chunk in 2 * CARRY..2 * CARRY + 150 {
        let finder = Finder::with_chunk(chunk).unwrap();
        assert_eq!(found_with(&finder, text.as_bytes()), whole, "chunk {chunk}");
    }
}

#[test]
fn a_long_line_is_read_in_chunks() {
    let secret = key("kw", KeyType::Secret);
    let padding = "ab_cd ".repeat(400_000);
    let text = format!("{padding}{secret};{padding}\n{secret}");
    assert_eq!(
        found(&text),
        vec![
            (1, padding.len() as u64 + 1, secret.clone()),
            (2, 1, secret)
        ]
    );
}

/// What the documented expression finds, with the same rules (nothing
/// alphanumeric after the body, the prefix the checksum accepts), as
/// (line, column, key).
fn by_the_documented_expression(text: &str) -> Vec<(u64, u64, String)> {
    let regex = Regex::new(SCANNER_REGEX).unwrap();
    regex
        .find_iter(text.as_bytes())
        .filter(|m| {
            !text
                .as_bytes()
                .get(m.end())
                .is_some_and(u8::is_ascii_alphanumeric)
        })
        .filter_map(|m| {
            (m.start()..m.end() - TAIL_LEN)
                .find(|&start| key_format::parse(&text[start..m.end()]).is_ok())
                .map(|start| {
                    let before = &text[..start];
                    let line = before.matches('\n').count() as u64 + 1;
                    let column = start - before.rfind('\n').map_or(0, |at| at + 1) + 1;
                    (line, column as u64, text[start..m.end()].to_owned())
                })
        })
        .collect()
}

#[test]
fn finds_what_the_documented_expression_finds() {
    // Keys and near misses side by side with every kind of neighbour,
    // keys touching keys included.
    let lefts = [
        "",
        " ",
        "\n",
        "x",
        "Z",
        "_",
        "kw",
        "0123456789abcdefghij",
        "a_",
    ];
    let rights = ["", " ", "\n", "x", "_", "9", "\"", "_sk_"];
    let mut text = String::new();
    for (i, left) in lefts.iter().enumerate() {
        for (j, right) in rights.iter().enumerate() {
            let prefix = ["kw", "p", "abcdefghijklmnop", "a1"][(i + j) % 4];
            let key_type = if j % 2 == 0 {
                KeyType::Secret
            } else {
                KeyType::Publishable
            };
            let good = key(prefix, key_type);
            let candidate = match (i * rights.len() + j) % 5 {
                0 => format!(
                    "{}{}",
                    &good[..good.len() - 1],
                    if good.ends_with('A') { 'B' } else { 'A' }
                ),
                1 => good[..good.len() - 1].to_owned(),
                _ => good,
            };
            text.push_str(&format!("{left}{candidate}{right}"));
        }
    }
    let expected = by_the_documented_expression(&text);
    assert!(expected.len() > 20, "{}", expected.len());
    assert_eq!(found(&text), expected);
    for chunk in [2 * CARRY, 2 * CARRY + 1, 200, 333] {
        let finder = Finder::with_chunk(chunk).unwrap();
        assert_eq!(
            found_with(&finder, text.as_bytes()),
            expected,
            "chunk {chunk}"
        );
    }
}
