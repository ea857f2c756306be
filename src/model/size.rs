//! Byte sizes as users type them: `64`, `4K` (= 4096), `64KiB`, `1M`, `1MiB`, `2G`.
//! Suffixes are binary whatever their spelling.

/// Parses a size; the error says what is accepted.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(digits);
    let n: usize = num
        .parse()
        .map_err(|_| format!("'{text}' is not a size: use a number of bytes with an optional K, M or G suffix (64, 4K, 64KiB, 1M)"))?;
    let shift = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => {
            return Err(format!(
                "'{text}': unknown size suffix '{other}': use K, M or G (binary: 4K = 4096)"
            ))
        }
    };
    n.checked_mul(1usize << shift)
        .ok_or_else(|| format!("'{text}' is too large"))
}

/// Formats a byte count with the largest binary unit that divides it: 4096 -> "4 KiB".
pub fn format_size(n: u64) -> String {
    match n {
        0 => "0 B".into(),
        n if n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_suffixes() {
        assert_eq!(parse_size("64"), Ok(64));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("1mib"), Ok(1 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("0"), Ok(0));
    }

    #[test]
    fn nonsense_is_refused_with_a_hint() {
        assert!(parse_size("4X")
            .unwrap_err()
            .contains("unknown size suffix"));
        assert!(parse_size("K").unwrap_err().contains("not a size"));
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }

    #[test]
    fn formats_with_the_largest_unit() {
        assert_eq!(format_size(64), "64 B");
        assert_eq!(format_size(4096), "4 KiB");
        assert_eq!(format_size(1 << 20), "1 MiB");
        assert_eq!(format_size(1500), "1500 B");
    }
}
