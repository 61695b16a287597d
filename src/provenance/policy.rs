//! provenance::policy: the project's license policy (`[provenance]
//! deny_licenses`), checked against every component's and distribution's SPDX
//! expression. Expressions are parsed and evaluated by the `spdx` crate: `A OR B`
//! is allowed when either side is, `A AND B` only when both are, so a dual
//! license is never refused for the alternative the project may drop.

use anyhow::{Result, bail};

/// The denied license ids of `expression`, when the expression cannot be
/// satisfied without one of them (empty: allowed). `deny` holds SPDX ids or
/// globs (`GPL-*`), matched against the id as written (`GPL-3.0-or-later`).
/// An expression that is not SPDX (`NOASSERTION`, free text) denies nothing.
pub fn denied(expression: &str, deny: &[String]) -> Vec<String> {
    if deny.is_empty() {
        return vec![];
    }
    let Ok(expr) = spdx::Expression::parse_mode(expression, spdx::ParseMode::LAX) else {
        return vec![];
    };
    let patterns: Vec<glob::Pattern> = deny
        .iter()
        .filter_map(|d| glob::Pattern::new(d).ok())
        .collect();
    let names = |req: &spdx::LicenseReq| -> Vec<String> {
        let mut n = vec![req.license.to_string()];
        if let Some(id) = req.license.id() {
            n.push(id.name.to_string());
        }
        n
    };
    let is_denied = |req: &spdx::LicenseReq| {
        names(req)
            .iter()
            .any(|n| patterns.iter().any(|p| p.matches(n)))
    };
    if expr.evaluate(|req| !is_denied(req)) {
        return vec![];
    }
    let mut out: Vec<String> = expr
        .requirements()
        .filter(|r| is_denied(&r.req))
        .map(|r| r.req.license.to_string())
        .collect();
    out.dedup();
    out
}

/// Fail when `what` (a component or distribution, named with its version) has
/// a license the project denies.
pub fn check(what: &str, expression: &str, deny: &[String], project: &str) -> Result<()> {
    let d = denied(expression, deny);
    if !d.is_empty() {
        bail!(
            "{what}: license {expression} is denied by [provenance] deny_licenses = {deny:?} \
             in {project} (denied: {})",
            d.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_are_evaluated_against_ids_and_globs() {
        let gpl3 = vec!["GPL-3.0-or-later".to_string()];
        assert_eq!(denied("GPL-3.0-or-later", &gpl3), ["GPL-3.0-or-later"]);
        assert!(denied("BSD-3-Clause", &gpl3).is_empty());
        assert!(denied("MIT OR GPL-3.0-or-later", &gpl3).is_empty());
        assert_eq!(
            denied("MIT AND GPL-3.0-or-later", &gpl3),
            ["GPL-3.0-or-later"]
        );
        let any_gpl = vec!["GPL-*".to_string()];
        assert_eq!(denied("GPL-2.0-only", &any_gpl), ["GPL-2.0-only"]);
        assert!(denied("LGPL-2.1-or-later", &any_gpl).is_empty());
        assert!(denied("NOASSERTION", &any_gpl).is_empty());
        assert!(denied("GPL-3.0-or-later", &[]).is_empty());
    }
}
