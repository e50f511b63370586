//! USB barcode scanners in counter mode act as keyboards ("keyboard wedge"): a scan arrives as
//! a burst of key presses ended by Enter or Tab. This turns such key events back into QR text.
//! Time is passed in by the caller (no clock reads), so behaviour is reproducible in tests.
//!
//! Ticket text is `SP1` + upper-case base32, an alphabet with no lower case and no whitespace,
//! so the parser may fold case (Caps Lock or a scanner's case inversion) and drop stray spaces
//! without losing information.

/// A key as the UI toolkit reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// A printable (or control) character.
    Char(char),
    /// The Enter / Return key.
    Enter,
    /// The Tab key (some scanners end scans with it).
    Tab,
}

impl From<char> for Key {
    fn from(c: char) -> Self {
        Self::Char(c)
    }
}

/// How the scanner is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WedgeConfig {
    /// Characters the scanner sends before each code (e.g. an AIM identifier `]Q1`); removed.
    pub prefix: String,
    /// Characters the scanner sends after each code, before the terminator; removed.
    pub suffix: String,
    /// A gap between two keys longer than this (ms) means the partial line was not a scan
    /// (someone typing, a scan cut off): it is discarded.
    pub timeout_ms: u64,
    /// Lines longer than this are garbage (a stuck key) and are discarded whole.
    pub max_len: usize,
}

impl Default for WedgeConfig {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            suffix: String::new(),
            timeout_ms: 300,
            max_len: 512,
        }
    }
}

/// Assembles key events into scanned lines.
#[derive(Clone, Debug)]
pub struct WedgeParser {
    config: WedgeConfig,
    line: String,
    overflowed: bool,
    last_key_ms: Option<u64>,
}

impl WedgeParser {
    /// A parser for a scanner set up as `config`.
    pub fn new(config: WedgeConfig) -> Self {
        Self {
            config,
            line: String::new(),
            overflowed: false,
            last_key_ms: None,
        }
    }

    /// Feeds one key pressed at `at_ms` (any monotonic millisecond clock). Returns the scanned
    /// text when this key completes a line.
    pub fn push(&mut self, key: impl Into<Key>, at_ms: u64) -> Option<String> {
        self.expire(at_ms);
        self.last_key_ms = Some(at_ms);
        match key.into() {
            Key::Enter | Key::Tab | Key::Char('\r' | '\n' | '\t') => self.finish(),
            Key::Char(c) => {
                if !c.is_whitespace() && !c.is_control() {
                    self.line.push(c);
                    if self.line.len() > self.config.max_len {
                        self.overflowed = true;
                        self.line.clear();
                    }
                }
                None
            }
        }
    }

    /// Feeds a string of characters all pressed at `at_ms` (tests, paste, or a toolkit that
    /// reports text in bursts), returning the lines completed.
    pub fn push_str(&mut self, text: &str, at_ms: u64) -> Vec<String> {
        text.chars().filter_map(|c| self.push(c, at_ms)).collect()
    }

    /// Discards a partial line if no key came for longer than the timeout. Call it from a UI
    /// timer so a half scan does not linger; `push` does the same check itself.
    pub fn expire(&mut self, now_ms: u64) {
        let stale = self
            .last_key_ms
            .is_some_and(|last| now_ms.saturating_sub(last) > self.config.timeout_ms);
        if stale {
            self.reset();
        }
    }

    /// Whether part of a line is waiting for its terminator.
    pub fn is_partial(&self) -> bool {
        !self.line.is_empty() || self.overflowed
    }

    fn reset(&mut self) {
        self.line.clear();
        self.overflowed = false;
        self.last_key_ms = None;
    }

    /// Ends the current line: strips the configured prefix and suffix, folds case, and returns
    /// it unless empty (a CRLF's second half, a double Enter) or overflowed.
    fn finish(&mut self) -> Option<String> {
        let overflowed = self.overflowed;
        let raw = std::mem::take(&mut self.line);
        self.overflowed = false;
        if overflowed {
            return None;
        }
        let mut text = raw.as_str();
        text = strip_prefix_ignore_case(text, &self.config.prefix).unwrap_or(text);
        text = strip_suffix_ignore_case(text, &self.config.suffix).unwrap_or(text);
        let text = text.to_ascii_uppercase();
        (!text.is_empty()).then_some(text)
    }
}

impl Default for WedgeParser {
    fn default() -> Self {
        Self::new(WedgeConfig::default())
    }
}

/// Whitespace never reaches the line buffer, so affixes are compared without theirs; case is
/// folded because Caps Lock inverts the affixes too.
fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let prefix = normalised_affix(prefix);
    let head = text.get(..prefix.len())?;
    (!prefix.is_empty() && head.eq_ignore_ascii_case(&prefix)).then(|| &text[prefix.len()..])
}

fn strip_suffix_ignore_case<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let suffix = normalised_affix(suffix);
    let cut = text.len().checked_sub(suffix.len())?;
    let tail = text.get(cut..)?;
    (!suffix.is_empty() && tail.eq_ignore_ascii_case(&suffix)).then(|| &text[..cut])
}

fn normalised_affix(affix: &str) -> String {
    affix
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TICKET: &str = "SP1ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    /// Types `text` one key every `gap` ms from `start`, returning completed lines.
    fn type_keys(parser: &mut WedgeParser, text: &str, start: u64, gap: u64) -> Vec<String> {
        text.chars()
            .enumerate()
            .filter_map(|(i, c)| parser.push(c, start + i as u64 * gap))
            .collect()
    }

    #[test]
    fn every_terminator_ends_a_line_once() {
        for end in ["\r", "\n", "\r\n", "\t", "\n\r", "\r\n\r\n"] {
            let mut p = WedgeParser::default();
            let lines = type_keys(&mut p, &format!("{TICKET}{end}"), 0, 5);
            assert_eq!(lines, vec![TICKET.to_owned()], "{end:?}");
            assert!(!p.is_partial());
        }
        let mut p = WedgeParser::default();
        for c in TICKET.chars() {
            assert_eq!(p.push(c, 0), None);
        }
        assert_eq!(p.push(Key::Enter, 1), Some(TICKET.to_owned()));
        type_keys(&mut p, TICKET, 2, 1);
        assert_eq!(p.push(Key::Tab, 100), Some(TICKET.to_owned()));
    }

    #[test]
    fn caps_lock_and_stray_whitespace_are_harmless() {
        let mut p = WedgeParser::default();
        let typed = format!("  {}  \u{a0}\n", TICKET.to_ascii_lowercase());
        assert_eq!(type_keys(&mut p, &typed, 0, 3), vec![TICKET.to_owned()]);
        let mixed = "sP1abC dEF\r\n";
        assert_eq!(p.push_str(mixed, 10), vec!["SP1ABCDEF".to_owned()]);
    }

    #[test]
    fn configured_prefix_and_suffix_are_removed() {
        let mut p = WedgeParser::new(WedgeConfig {
            prefix: "]Q1".to_owned(),
            suffix: "\u{3}#".to_owned(),
            ..WedgeConfig::default()
        });
        let lines = p.push_str(&format!("]q1{TICKET}#\r\n{TICKET}\r\n"), 0);
        assert_eq!(lines, vec![TICKET.to_owned(), TICKET.to_owned()]);
    }

    #[test]
    fn a_pause_discards_the_partial_line() {
        let mut p = WedgeParser::default();
        assert!(type_keys(&mut p, "SP1GARB", 0, 10).is_empty());
        assert!(p.is_partial());
        // 301 ms after the last key: the half line is gone, the new scan comes through whole.
        let lines = type_keys(&mut p, &format!("{TICKET}\n"), 60 + 301, 4);
        assert_eq!(lines, vec![TICKET.to_owned()]);
        // A UI timer can expire it too.
        p.push_str("SP1HALF", 1_000);
        p.expire(1_300);
        assert!(p.is_partial());
        p.expire(1_301);
        assert!(!p.is_partial());
        assert_eq!(p.push(Key::Enter, 1_302), None);
    }

    #[test]
    fn overlong_lines_are_dropped_whole() {
        let mut p = WedgeParser::new(WedgeConfig {
            max_len: 16,
            ..WedgeConfig::default()
        });
        assert!(p.push_str(&format!("{}\n", "A".repeat(40)), 0).is_empty());
        assert_eq!(p.push_str("SP1OK\n", 1), vec!["SP1OK".to_owned()]);
    }

    fn ticket_strategy() -> impl Strategy<Value = String> {
        proptest::collection::vec(any::<u8>(), 97)
            .prop_map(|bytes| format!("SP1{}", data_encoding::BASE32_NOPAD.encode(&bytes)))
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(
            keys in proptest::collection::vec((any::<char>(), 0u64..1_000, 0u8..4), 0..400),
            prefix in ".{0,3}",
            suffix in ".{0,3}",
        ) {
            let mut p = WedgeParser::new(WedgeConfig {
                prefix, suffix, max_len: 200, ..WedgeConfig::default()
            });
            let mut now = 0u64;
            for (c, gap, kind) in keys {
                now = now.saturating_add(gap);
                let key = match kind { 0 => Key::Enter, 1 => Key::Tab, _ => Key::Char(c) };
                if let Some(line) = p.push(key, now) {
                    prop_assert!(!line.is_empty() && line.len() <= 200);
                }
            }
            p.expire(u64::MAX);
        }

        #[test]
        fn a_well_formed_scan_comes_back_exact(
            ticket in ticket_strategy(),
            garbage in "[a-z0-9 ]{0,20}",
            terminator in prop::sample::select(vec!["\r", "\n", "\r\n", "\t"]),
            caps_inverted in any::<bool>(),
            with_affixes in any::<bool>(),
            gaps in proptest::collection::vec(0u64..=300, 200),
        ) {
            let config = if with_affixes {
                WedgeConfig { prefix: "]Q1".into(), suffix: "\u{3}".into(), ..WedgeConfig::default() }
            } else {
                WedgeConfig::default()
            };
            let mut p = WedgeParser::new(config.clone());
            let body = if caps_inverted { ticket.to_ascii_lowercase() } else { ticket.clone() };
            let typed = format!(" {}{body}{} {terminator}", config.prefix, config.suffix);
            // Leftover keystrokes before the scan, then a pause longer than the timeout.
            let mut now = 0;
            for c in garbage.chars() {
                prop_assert_eq!(p.push(c, now), None);
                now += 1;
            }
            now += 301;
            let mut lines = Vec::new();
            for (c, gap) in typed.chars().zip(gaps.iter().cycle()) {
                lines.extend(p.push(c, now));
                now += gap;
            }
            prop_assert_eq!(lines, vec![ticket]);
        }
    }
}
