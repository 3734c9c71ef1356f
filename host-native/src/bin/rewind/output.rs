//! Terminal output: colours (only on a terminal, never with NO_COLOR), tables that fit the
//! terminal width, human formats for times, sizes and ids, and text from the store made safe
//! to print.

use std::borrow::Cow;
use std::io::IsTerminal;

/// Text that came from the store (messages, tags, names, notes: an agent's words, untrusted),
/// safe for a terminal: control characters (C0, DEL, C1 — escape sequences such as OSC 52,
/// which writes the clipboard), bidirectional overrides and line separators are shown as
/// escapes (`\u{1b}`, `\n`) instead of acting on the terminal. `--json` output is exact.
pub fn clean(text: &str) -> Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c.is_control()
            || matches!(
                c,
                '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}'
                    | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            )
    }
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Writes `bytes` to `path` whole or not at all: into a new file beside it, synced, then renamed
/// over `path`. A full disk or a size limit leaves `path` as it was (absent, or the previous
/// file) and no partial file behind.
pub fn write_whole(path: &std::path::Path, bytes: &[u8]) -> Result<(), crate::failure::Failure> {
    use std::io::Write;
    let fail = |e| crate::failure::Failure::io(path.display(), e);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(
        ".{}.rewind-{}.tmp",
        name.unwrap_or_default(),
        std::process::id()
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all()))
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    Ok(())
}

/// How to print: colours or not, and how wide lines may be.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub color: bool,
    /// Terminal width; `None` when stdout is not a terminal (never truncate for pipes).
    pub width: Option<usize>,
}

impl Style {
    pub fn detect() -> Style {
        let tty = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let width = tty.then(|| {
            terminal_size::terminal_size()
                .map(|(w, _)| w.0 as usize)
                .unwrap_or(100)
        });
        Style {
            color: tty && !no_color,
            width,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }
    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
    pub fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }
    pub fn cyan(&self, text: &str) -> String {
        self.paint("36", text)
    }
    pub fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }
    pub fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }
}

/// A table: the last column shrinks (with an ellipsis) so rows fit the terminal.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<const N: usize>(header: [&str; N]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(&self, style: &Style) {
        let cols = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        // Shrink the last column to fit the terminal (never below 10 characters).
        if let Some(width) = style.width {
            let fixed: usize = widths[..cols - 1].iter().map(|w| w + 2).sum();
            widths[cols - 1] = widths[cols - 1].min(width.saturating_sub(fixed).max(10));
        }
        let line = |cells: &[String], header: bool| {
            let mut out = String::new();
            for (i, cell) in cells.iter().enumerate().take(cols) {
                let text = fit(cell, widths[i]);
                let pad = widths[i].saturating_sub(text.chars().count());
                let text = if header { style.bold(&text) } else { text };
                out.push_str(&text);
                if i + 1 < cols {
                    out.push_str(&" ".repeat(pad + 2));
                }
            }
            out
        };
        if self.header.iter().any(|h| !h.is_empty()) {
            println!("{}", line(&self.header, true));
        }
        for row in &self.rows {
            println!("{}", line(row, false));
        }
    }
}

/// `text` cut to `width` characters with an ellipsis.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn time(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds (for JSON).
pub fn rfc3339(ms: u64) -> String {
    let t = time(ms);
    format!("{}T{}.{:03}Z", &t[..10], &t[11..], ms % 1000)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DDTHH:MM:SS[Z]` (or with a space, or a bare date) as UTC, or an age such as
/// `2h` meaning that long before `now_ms`.
pub fn parse_time(text: &str, now_ms: u64) -> Result<u64, String> {
    if let Ok(age) = parse_duration_ms(text) {
        return Ok(now_ms.saturating_sub(age));
    }
    let t = text.trim_end_matches('Z');
    let (date, clock) = t.split_once(['T', ' ']).unwrap_or((t, "00:00:00"));
    let parts: Vec<&str> = date.split('-').collect();
    let clock: Vec<&str> = clock.split(':').collect();
    let bad = || format!("not a time: {text:?} (use 2026-01-31T12:00:00Z or an age like 2h)");
    if parts.len() != 3 || clock.len() < 2 {
        return Err(bad());
    }
    let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
    let (y, mo, d) = (num(parts[0])?, num(parts[1])?, num(parts[2])?);
    let (h, mi) = (num(clock[0])?, num(clock[1])?);
    // Seconds with an optional fraction, read as whole milliseconds (no float rounding).
    let seconds = clock.get(2).copied().unwrap_or("0");
    let (secs, frac) = seconds.split_once('.').unwrap_or((seconds, ""));
    let s = num(secs)?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let millis: i64 = format!("{frac:0<3}")[..3].parse().map_err(|_| bad())?;
    // Years past 9999 would overflow the arithmetic below; days past the month's end are typos.
    let month_days = match mo {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || !(1..=month_days).contains(&d)
        || h > 23
        || mi > 59
        || s > 60
    {
        return Err(bad());
    }
    let days = days_from_civil(y, mo as u32, d as u32);
    let ms = days * 86_400_000 + h * 3_600_000 + mi * 60_000 + s * 1000 + millis;
    u64::try_from(ms).map_err(|_| bad())
}

/// Parses `500ms`, `45s`, `30m`, `12h`, `7d`, `2w` into milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} needs a unit (ms, s, m, h, d, w)"))?;
    let (num, unit) = text.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("not a duration: {text:?}"))?;
    let factor = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?} (ms, s, m, h, d, w)"
            ));
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("duration too large: {text:?}"))
}

/// Parses `1024`, `64KB`, `10MiB`, `2G` into bytes (K/M/G are powers of 1024 either way).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let upper = text.trim().to_ascii_uppercase();
    let split = upper
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(upper.len());
    let (num, unit) = upper.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("not a size: {text:?}"))?;
    let factor: u64 = match unit.trim_end_matches("IB").trim_end_matches('B') {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("unknown size unit in {text:?} (B, KB, MB, GB, TB)")),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("size too large: {text:?}"))
}

/// Bytes in a short human form: `512 B`, `4.0 KiB`, `1.2 MiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_escaped() {
        assert_eq!(clean("plain text, é ✓"), "plain text, é ✓");
        assert_eq!(
            clean("\x1b]52;c;aGk=\x07 \u{9b}31m \u{202e}evil\n"),
            "\\u{1b}]52;c;aGk=\\u{7} \\u{9b}31m \\u{202e}evil\\n"
        );
    }

    #[test]
    fn times_round_trip() {
        assert_eq!(time(0), "1970-01-01 00:00:00");
        assert_eq!(time(1_767_225_600_000), "2026-01-01 00:00:00");
        assert_eq!(parse_time("2026-01-01T00:00:00Z", 0), Ok(1_767_225_600_000));
        assert_eq!(parse_time("2h", 10_000_000), Ok(10_000_000 - 7_200_000));
        assert_eq!(
            parse_time("2026-01-01T00:00:01.001Z", 0),
            Ok(1_767_225_601_001)
        );
        assert_eq!(
            parse_time("2026-01-01T00:00:01.5Z", 0),
            Ok(1_767_225_601_500)
        );
        assert!(parse_time("yesterday", 0).is_err());
        assert_eq!(rfc3339(1_767_225_600_123), "2026-01-01T00:00:00.123Z");
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("10MB"), Ok(10 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("512"), Ok(512));
        assert!(parse_size("5 parsecs").is_err());
        assert_eq!(parse_duration_ms("7d"), Ok(7 * 86_400_000));
        assert!(parse_duration_ms("7").is_err());
        assert_eq!(size(1536), "1.5 KiB");
    }

    #[test]
    fn fit_cuts_with_an_ellipsis() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
    }
}
