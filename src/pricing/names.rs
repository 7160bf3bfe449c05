//! Model-name matching: case, provider prefixes, dated variants, aliases, and suggestions for names
//! that match nothing.
//!
//! A lookup tries the name exactly first (the fast path). On a miss it tries, without allocating:
//! the names in ASCII lowercase; the model without a `provider/` prefix (`openai/gpt-4o-mini`); the
//! model without a date suffix (`gpt-4o-mini-2024-07-18`, `claude-sonnet-4-20250514`,
//! `claude-3-5-sonnet@20240620`); and the explicit aliases, which are matched the same way.

/// Longest provider or model name the folded lookup handles; longer names only match exactly.
pub(crate) const MAX_FOLDED: usize = 256;

/// `s` in ASCII lowercase, in `buf`; `None` when it does not fit.
pub(crate) fn fold<'b>(s: &str, buf: &'b mut [u8; MAX_FOLDED]) -> Option<&'b str> {
    let bytes = s.trim().as_bytes();
    let out = buf.get_mut(..bytes.len())?;
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = b.to_ascii_lowercase();
    }
    // Lowercasing ASCII bytes keeps UTF-8 valid.
    std::str::from_utf8(out).ok()
}

/// The model without a `provider/` prefix naming `provider` (or any prefix when `provider` is empty).
pub(crate) fn strip_provider<'m>(provider: &str, model: &'m str) -> Option<&'m str> {
    let (prefix, rest) = model.split_once('/')?;
    (provider.is_empty() || prefix.eq_ignore_ascii_case(provider)).then_some(rest)
}

/// The model without a trailing release date: `-YYYY-MM-DD`, `-YYYYMMDD` or `@YYYYMMDD`.
pub(crate) fn strip_date(model: &str) -> Option<&str> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let n = model.len();
    if n > 11 && model.is_char_boundary(n - 11) {
        let (head, tail) = model.split_at(n - 11);
        let t = tail.as_bytes();
        if t[0] == b'-'
            && t[5] == b'-'
            && t[8] == b'-'
            && digits(&tail[1..5])
            && digits(&tail[6..8])
            && digits(&tail[9..11])
        {
            return Some(head);
        }
    }
    if n > 9 && model.is_char_boundary(n - 9) {
        let (head, tail) = model.split_at(n - 9);
        if (tail.starts_with('-') || tail.starts_with('@')) && digits(&tail[1..]) {
            return Some(head);
        }
    }
    None
}

/// Edit distance between two names (insertions, deletions, substitutions), ASCII case ignored.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    strsim::levenshtein(&a.to_ascii_lowercase(), &b.to_ascii_lowercase())
}

/// Up to `n` of `candidates` nearest to `name`: those within a third of the name's length in edit
/// distance, or that contain it or are contained in it, nearest first.
pub(crate) fn nearest<'c>(
    name: &str,
    candidates: impl Iterator<Item = &'c str>,
    n: usize,
) -> Vec<String> {
    let lower = name.to_ascii_lowercase();
    let limit = (name.len() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = candidates
        .filter_map(|c| {
            let d = distance(name, c);
            let c_lower = c.to_ascii_lowercase();
            let related = c_lower.contains(&lower) || lower.contains(&c_lower);
            (d <= limit || related).then_some((d, c))
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored
        .into_iter()
        .take(n)
        .map(|(_, c)| c.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_stripped_in_each_spelling() {
        assert_eq!(strip_date("gpt-4o-mini-2024-07-18"), Some("gpt-4o-mini"));
        assert_eq!(
            strip_date("claude-sonnet-4-20250514"),
            Some("claude-sonnet-4")
        );
        assert_eq!(
            strip_date("claude-3-5-sonnet@20240620"),
            Some("claude-3-5-sonnet")
        );
        assert_eq!(strip_date("gpt-4o"), None);
        assert_eq!(strip_date("llama3.1-8b"), None);
        assert_eq!(strip_date("model-12345678x"), None);
    }

    #[test]
    fn provider_prefixes_are_stripped_only_for_their_provider() {
        assert_eq!(strip_provider("openai", "OpenAI/gpt-4o"), Some("gpt-4o"));
        assert_eq!(strip_provider("anthropic", "openai/gpt-4o"), None);
        assert_eq!(strip_provider("", "openai/gpt-4o"), Some("gpt-4o"));
        assert_eq!(strip_provider("openai", "gpt-4o"), None);
    }

    #[test]
    fn folding_lowercases_and_refuses_what_does_not_fit() {
        let mut buf = [0; MAX_FOLDED];
        assert_eq!(fold(" GPT-4o ", &mut buf), Some("gpt-4o"));
        assert_eq!(fold(&"x".repeat(MAX_FOLDED + 1), &mut buf), None);
    }

    #[test]
    fn nearest_names_come_first() {
        let names = ["gpt-4o", "gpt-4o-mini", "gpt-4-turbo", "tts-1"];
        assert_eq!(distance("gpt-4o-mni", "gpt-4o-mini"), 1);
        assert_eq!(
            nearest("gpt-4o-mni", names.into_iter(), 2),
            ["gpt-4o-mini", "gpt-4o"]
        );
        assert!(nearest("whisper", names.into_iter(), 3).is_empty());
    }
}
