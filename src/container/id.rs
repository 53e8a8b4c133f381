//! Container ids, validated as runc does.

/// Longest id accepted (runc has no limit; a file name must fit).
pub const MAX_ID_LEN: usize = 1024;

/// Why an id was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("container id cannot be empty")]
    Empty,
    #[error("invalid container id {0:?}: only [A-Za-z0-9_+.-] are allowed, and not . or ..")]
    Invalid(String),
    #[error("container id is longer than {MAX_ID_LEN} bytes")]
    TooLong,
}

/// Checks `id` against runc's rule: `^[\w+.-]+$`, not `.` or `..`.
pub fn validate_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if id.len() > MAX_ID_LEN {
        return Err(IdError::TooLong);
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '.' | '-');
    if id == "." || id == ".." || !id.chars().all(allowed) {
        return Err(IdError::Invalid(id.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_runc_ids() {
        for id in ["a", "my-container_1.2+x", "ABC", "..."] {
            validate_id(id).unwrap();
        }
    }

    #[test]
    fn refuses_bad_ids() {
        assert_eq!(validate_id(""), Err(IdError::Empty));
        for id in [".", "..", "a/b", "../x", "a b", "é", "a\0b"] {
            assert!(
                matches!(validate_id(id), Err(IdError::Invalid(_))),
                "{id:?}"
            );
        }
        assert_eq!(
            validate_id(&"a".repeat(MAX_ID_LEN + 1)),
            Err(IdError::TooLong)
        );
    }
}
