//! The outbox writer (`platform::outbox::write`, shared with the api's level changes) as the
//! handlers call it, and the check that every routing key they write is in the contract; the
//! relay ([`crate::relay`]) publishes the rows after the commit.

pub use platform::outbox::write;

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The routing keys the handlers write (the string literal after the connection in every
    /// `outbox::write(` and `ledger::outbox(` call of this crate's sources).
    fn written_keys(dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                written_keys(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for call in ["outbox::write(", "ledger::outbox("] {
                    for (at, _) in text.match_indices(call) {
                        let args = &text[at + call.len()..];
                        // The first argument is the connection (not a string: skips this test's own text).
                        let Some((first, rest)) = args.split_once(',') else { continue };
                        if let (false, Some(quoted)) = (first.contains('"'), rest.trim_start().strip_prefix('"')) {
                            found.push(quoted.split('"').next().unwrap_or_default().to_string());
                        }
                    }
                }
            }
        }
    }

    /// The broker contract (`/asyncapi.json`) lists `schemas::analytics::ROUTING_KEYS`: every
    /// key a handler writes must be among them.
    #[test]
    fn every_routing_key_written_is_in_the_contract() {
        let mut found = Vec::new();
        written_keys(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
        assert!(found.len() >= 15, "the scan finds the calls: {found:?}");
        for key in found {
            assert!(schemas::analytics::ROUTING_KEYS.contains(&key.as_str()), "{key} is not in ROUTING_KEYS");
        }
    }
}
