//! Finding keys in a stream of bytes: the documented regular expression,
//! then the checksum, read in fixed-size chunks so that a file of any size
//! (or a minified file of one long line) takes the same memory.
//!
//! The expression is searched from its fixed middle: the regex engine finds
//! `_(sk|pk)_[0-9A-Za-z]{38}` (its literals let it skip through text at
//! several GB/s), and the `[a-z0-9]{1,16}` before it is read by hand. Given
//! whole, the expression starts with a class of 36 bytes, which no literal
//! search can skip to, and the engine reads every byte (about 0.5 GB/s here).
//!
//! Boundaries. The regular expression can match inside longer runs of
//! characters, so a match counts only when:
//!
//! - no letter or digit follows its 38-character body (a longer run is
//!   something else that happens to start like a key);
//! - one of its candidate prefixes makes the checksum hold: the 1 to 16
//!   prefix characters before `_sk_`/`_pk_` may be preceded by more letters
//!   and digits (`tokenkw_sk_…`), so each suffix of that run is tried,
//!   longest first, and the first whose checksum holds is the key. The
//!   checksum covers the prefix, so a wrong start is refused as surely as a
//!   typo.

use anyhow::Context;
use keyward_core::key_format::{self, FullKey, KeyType, SCANNER_REGEX};
use regex::bytes::Regex;
use std::io::{self, Read};

/// Bytes read at a time.
const CHUNK: usize = 1 << 20;
/// Bytes kept from one chunk for the next: more than the longest key (16 +
/// 4 + 38 characters) and the byte after it, so that a key cut by the end of
/// a chunk is whole, prefix included, in the next one.
const CARRY: usize = 64;
/// How far into a file a NUL byte makes it binary (as git and grep do).
const BINARY_PROBE: usize = 8 * 1024;

/// A key found, and where.
#[derive(Debug)]
pub struct Hit {
    /// 1-based line.
    pub line: u64,
    /// 1-based byte column of the key's first character.
    pub column: u64,
    /// The key; its `Debug` shows nothing of it.
    pub key: FullKey,
    /// Secret or publishable.
    pub key_type: KeyType,
    /// The project's prefix.
    pub prefix: String,
    /// `<prefix>_<type>_` and four characters each side of the body.
    pub hint: String,
}

/// What reading a stream found.
#[derive(Debug)]
pub enum Scanned {
    /// A NUL byte in the first 8 KiB: skipped.
    Binary,
    /// Read to its end.
    Text {
        /// The keys found, in order.
        hits: Vec<Hit>,
        /// Bytes read.
        bytes: u64,
    },
}

/// Whether a NUL byte near the start makes a stream be skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// Skip it (files found by walking a directory, git blobs).
    Skip,
    /// Read it anyway (files named on the command line, standard input).
    Scan,
}

/// The start of [`SCANNER_REGEX`], matched by hand ([`is_prefix_byte`]).
const PREFIX_PATTERN: &str = "[a-z0-9]{1,16}";
/// Longest prefix.
const MAX_PREFIX: usize = 16;
/// `_sk_` or `_pk_` and the body: the part of a key after its prefix.
const TAIL_LEN: usize = 4 + key_format::BODY_LEN;
const _: () = assert!(
    CARRY > MAX_PREFIX + TAIL_LEN,
    "a key must fit in what is carried"
);

/// The compiled expression; cheap to share between threads.
#[derive(Debug, Clone)]
pub struct Finder {
    /// [`SCANNER_REGEX`] without its prefix.
    tail: Regex,
    chunk: usize,
}

impl Finder {
    /// Compiles [`SCANNER_REGEX`] less its leading [`PREFIX_PATTERN`].
    pub fn new() -> anyhow::Result<Self> {
        let tail = SCANNER_REGEX
            .strip_prefix(PREFIX_PATTERN)
            .context("the scanner expression starts with something other than the prefix")?;
        Ok(Self {
            tail: Regex::new(tail)?,
            chunk: CHUNK,
        })
    }

    /// A finder reading `chunk` bytes at a time, to test chunk boundaries.
    #[cfg(test)]
    fn with_chunk(chunk: usize) -> anyhow::Result<Self> {
        Ok(Self {
            chunk: chunk.max(2 * CARRY),
            ..Self::new()?
        })
    }

    /// A buffer for [`Finder::scan`], reused from one stream to the next.
    pub fn buffer(&self) -> Vec<u8> {
        vec![0; self.chunk]
    }

    /// Reads `reader` to its end and returns the keys in it.
    pub fn scan(
        &self,
        mut reader: impl Read,
        buf: &mut [u8],
        binary: Binary,
    ) -> io::Result<Scanned> {
        let mut hits = Vec::new();
        let mut lines = Lines::default();
        // `buf[0]` is at `base` in the stream; matches ending at or before
        // `done` have been dealt with.
        let mut base: u64 = 0;
        let mut done: u64 = 0;
        let mut carried = 0;
        loop {
            let filled = carried + fill(&mut reader, &mut buf[carried..])?;
            let end_of_stream = filled < buf.len();
            let hay = &buf[..filled];
            if base == 0
                && binary == Binary::Skip
                && memchr::memchr(0, &hay[..filled.min(BINARY_PROBE)]).is_some()
            {
                return Ok(Scanned::Binary);
            }
            let mut at = usize::try_from(done.saturating_sub(base)).unwrap_or(filled);
            while let Some(found) = self.tail.find_at(hay, at) {
                // The byte after the body decides; at the chunk's end it is
                // not read yet, so the match waits for the next chunk.
                if found.end() == filled && !end_of_stream {
                    break;
                }
                at = found.end();
                done = base + found.end() as u64;
                if hay.get(found.end()).is_some_and(u8::is_ascii_alphanumeric) {
                    continue;
                }
                if let Some((start, hit)) = key_at(hay, found.start(), found.end()) {
                    let offset = base + start as u64;
                    lines.advance(hay, base, offset);
                    hits.push(Hit {
                        line: lines.line,
                        column: offset - lines.line_start + 1,
                        ..hit
                    });
                }
            }
            if end_of_stream {
                return Ok(Scanned::Text {
                    hits,
                    bytes: base + filled as u64,
                });
            }
            let keep = filled - CARRY;
            lines.advance(hay, base, base + keep as u64);
            buf.copy_within(keep..filled, 0);
            base += keep as u64;
            carried = CARRY;
        }
    }
}

/// The key ending with the tail `hay[tail..end]`, if one of the prefixes
/// before the tail makes its checksum hold, with its start in `hay`.
fn key_at(hay: &[u8], tail: usize, end: usize) -> Option<(usize, Hit)> {
    let run = hay[tail.saturating_sub(MAX_PREFIX)..tail]
        .iter()
        .rev()
        .take_while(|byte| is_prefix_byte(**byte))
        .count();
    (tail - run..tail).find_map(|candidate| {
        let text = std::str::from_utf8(&hay[candidate..end]).ok()?;
        let parsed = key_format::parse(text).ok()?;
        let hit = Hit {
            line: 0,
            column: 0,
            key_type: parsed.key_type,
            prefix: parsed.prefix.to_owned(),
            hint: parsed.hint(),
            key: FullKey::from_trusted(text.to_owned()),
        };
        Some((candidate, hit))
    })
}

/// A byte [`PREFIX_PATTERN`] matches.
fn is_prefix_byte(byte: u8) -> bool {
    byte.is_ascii_lowercase() || byte.is_ascii_digit()
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// Line numbers, counted as the stream goes by.
#[derive(Debug)]
struct Lines {
    /// Stream offset counted up to.
    counted: u64,
    /// The line `counted` is on, from 1.
    line: u64,
    /// Stream offset where that line starts.
    line_start: u64,
}

impl Default for Lines {
    fn default() -> Self {
        Self {
            counted: 0,
            line: 1,
            line_start: 0,
        }
    }
}

impl Lines {
    /// Counts the newlines up to `to`; `hay` starts at stream offset `base`,
    /// at or before what is counted already. Offsets only move forward
    /// (matches are searched for from the end of the last one).
    fn advance(&mut self, hay: &[u8], base: u64, to: u64) {
        if to <= self.counted {
            return;
        }
        let (Ok(from), Ok(upto)) = (
            usize::try_from(self.counted - base),
            usize::try_from(to - base),
        ) else {
            return;
        };
        let span = &hay[from..upto];
        self.line += memchr::memchr_iter(b'\n', span).count() as u64;
        if let Some(last) = memchr::memrchr(b'\n', span) {
            self.line_start = self.counted + last as u64 + 1;
        }
        self.counted = to;
    }
}

#[cfg(test)]
#[path = "finder_tests.rs"]
mod tests;
