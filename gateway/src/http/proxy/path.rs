//! Paths that could mean one thing to the gateway and another to an
//! upstream are refused, never normalised: dot segments, empty segments,
//! encoded slashes and backslashes.

use crate::http::ApiError;

/// Refuses ambiguous request paths with 400.
pub fn check_path(path: &str) -> Result<(), ApiError> {
    let bad = |why: &str| {
        Err(ApiError::BadRequest(format!(
            "ambiguous request path: {why}"
        )))
    };
    if !path.starts_with('/') {
        return bad("must start with `/`");
    }
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || path.contains('\\') {
        return bad("encoded slash or backslash");
    }
    if lower.contains("%00") {
        return bad("encoded NUL");
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        // Some servers drop `;params` from a segment before resolving dots
        // (`..;` means `..` to them), so the check ignores them too.
        let decoded = segment
            .to_ascii_lowercase()
            .replace("%2e", ".")
            .replace("%3b", ";");
        let name = decoded.split(';').next().unwrap_or_default();
        if name == "." || name == ".." {
            return bad("dot segment");
        }
        if segment.is_empty() && i != last {
            return bad("empty segment");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ambiguous_paths_are_refused() {
        for path in [
            "/a/../b",
            "/a/./b",
            "/a/%2e%2E/b",
            "/a//b",
            "/a%2Fb",
            "/a\\b",
            "/a/%2e",
            "/..",
        ] {
            assert!(check_path(path).is_err(), "{path}");
        }
        for path in ["/", "/a", "/a/b/", "/a/b.c", "/a/..b", "/v1/x%20y"] {
            assert!(check_path(path).is_ok(), "{path}");
        }
    }
}
