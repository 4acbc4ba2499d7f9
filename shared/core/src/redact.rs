//! Text bound for logs, with the personal data taken out: logs outlive an
//! erasure (CloudWatch keeps them; nothing deletes one person's lines), so
//! an address in a provider's error message must not reach them. Pure.

/// `text` with every email address replaced by `<address>`.
pub fn addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_inclusive(|c: char| c.is_whitespace() || c == ',') {
        let core = word.trim_matches(|c: char| {
            c.is_whitespace()
                || matches!(
                    c,
                    ',' | '<' | '>' | '"' | '\'' | '(' | ')' | '[' | ']' | ';' | ':'
                )
        });
        if looks_like_address(core) {
            out.push_str(&word.replacen(core, "<address>", 1));
        } else {
            out.push_str(word);
        }
    }
    out
}

fn looks_like_address(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
}

#[cfg(test)]
mod tests {
    use super::addresses;

    #[test]
    fn addresses_are_taken_out_and_the_rest_kept() {
        assert_eq!(
            addresses(
                "MessageRejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: ana.silva@example.com, <bo@shop.example>"
            ),
            "MessageRejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: <address>, <<address>>"
        );
        assert_eq!(
            addresses("Throttling: rate exceeded"),
            "Throttling: rate exceeded"
        );
        assert_eq!(
            addresses("user@localhost and @handle"),
            "user@localhost and @handle"
        );
    }
}
