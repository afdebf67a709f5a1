//! Resource guards: the memory a command may plan to use, checked before it allocates, so that
//! an input too large for the machine gets a clear error instead of the operating system's
//! out-of-memory kill.
//!
//! The limit is process-wide (default [`DEFAULT_MEMORY_LIMIT`], 8 GiB; the command line's
//! `--memory-limit` sets it). Estimates are deliberately simple upper bounds:
//! [`EXACT_ELEMENT_BYTES`] per exact rational element (two big integers and their headers, for
//! values of up to a few machine words), the scaled integers' bit width times the element count
//! for the fast engine's common-denominator form, and a dense matrix's rows times columns.

use std::sync::atomic::{AtomicU64, Ordering};

/// The default limit: 8 GiB.
pub const DEFAULT_MEMORY_LIMIT: u64 = 8 << 30;

/// Bytes assumed per exact rational element (a `Ratio<BigInt>` of small values: two 32-byte
/// big integers and their heap words).
pub const EXACT_ELEMENT_BYTES: u64 = 96;

static LIMIT: AtomicU64 = AtomicU64::new(DEFAULT_MEMORY_LIMIT);

/// Sets the process-wide memory limit in bytes.
pub fn set_memory_limit(bytes: u64) {
    LIMIT.store(bytes, Ordering::Relaxed);
}

/// The process-wide memory limit in bytes.
pub fn memory_limit() -> u64 {
    LIMIT.load(Ordering::Relaxed)
}

/// Bytes in a human unit: "1.5 GiB".
pub fn human(bytes: u128) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// Ok when `bytes` fits the limit; otherwise the message: what needs how much, the limit, and
/// the flag that raises it.
pub fn check(what: &str, bytes: u128) -> Result<(), String> {
    let limit = memory_limit();
    if bytes <= u128::from(limit) {
        return Ok(());
    }
    Err(format!(
        "{what} needs about {}, above the memory limit of {} (raise it with --memory-limit, e.g. --memory-limit {})",
        human(bytes),
        human(u128::from(limit)),
        suggestion(bytes)
    ))
}

/// A limit that would admit `bytes`: the next power of two in GiB (at least 1G).
fn suggestion(bytes: u128) -> String {
    let gib = bytes.div_ceil(1 << 30).max(1).next_power_of_two();
    format!("{gib}G")
}

/// Ok when `elements` exact values fit the limit.
pub fn check_exact_elements(what: &str, elements: u128) -> Result<(), String> {
    check(
        &format!("{what} ({elements} exact values)"),
        elements.saturating_mul(u128::from(EXACT_ELEMENT_BYTES)),
    )
}

/// Parses a size: bytes, or a number with K, M, G or T (powers of 1024; an optional trailing
/// "B" or "iB").
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (digits, shift) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 30),
        Some('T' | 't') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let value: u64 = digits.parse().map_err(|_| {
        format!("invalid size '{text}': expected bytes or a number with K, M, G or T")
    })?;
    value
        .checked_mul(1u64 << shift)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("invalid size '{text}': must be positive and below 2^64 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_the_message_names_the_flag() {
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999T").is_err());
        let message = check("x.npy", u128::from(memory_limit()) + 1).unwrap_err();
        assert!(message.contains("--memory-limit 16G"), "{message}");
        assert!(check("x.npy", 1).is_ok());
    }
}
