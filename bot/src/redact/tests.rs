use proptest::prelude::*;

use super::*;

const TOKEN: &str = "ghp_sim0123456789abcdef0123456789abcdef";
const WEBHOOK: &str = "it's a secret to everybody";

fn redactor() -> Redactor {
    Redactor::new([
        TOKEN.to_string(),
        WEBHOOK.to_string(),
        "short".to_string(),
        "  padded-secret-value \n".to_string(),
    ])
}

#[test]
fn known_values_are_redacted_wherever_they_are() {
    let r = redactor();
    let text = format!("token={TOKEN}\nthe secret is {WEBHOOK}!\npadded-secret-value.");
    let out = r.redact(&text);
    assert!(!out.contains(TOKEN) && !out.contains(WEBHOOK), "{out}");
    assert!(
        !out.contains("padded-secret-value"),
        "values are trimmed: {out}"
    );
    assert_eq!(out.matches(REDACTED).count(), 3, "{out}");
    assert_eq!(
        r.len(),
        3,
        "a value shorter than {MIN_SECRET} bytes is not redacted"
    );
    assert_eq!(r.redact("short and sweet"), "short and sweet");
}

#[test]
fn debug_never_prints_a_value() {
    let shown = format!("{:?}", redactor());
    assert!(
        !shown.contains(WEBHOOK) && !shown.contains(TOKEN),
        "{shown}"
    );
    assert_eq!(shown, "Redactor(3 secret values)");
}

#[test]
fn a_dumped_environment_loses_every_secret() {
    // What a polecat gets by pointing the bot at /proc/self/environ.
    let environ = format!(
        "PATH=/usr/bin\0HOME=/root\0GT_GITHUB_TOKEN={TOKEN}\0GT_GITHUB_WEBHOOK_SECRET={WEBHOOK}\0\
         GT_LLM_API_KEY=not-a-known-value-1234\0DATABASE_PASSWORD=hunter2hunter2\0GT_LOG=info\0"
    );
    let out = redactor().redact(&environ);
    for secret in [TOKEN, WEBHOOK, "not-a-known-value-1234", "hunter2hunter2"] {
        assert!(!out.contains(secret), "{secret} in {out:?}");
    }
    assert!(
        out.contains("PATH=/usr/bin") && out.contains("GT_LOG=info"),
        "{out:?}"
    );
    assert!(
        out.contains("DATABASE_PASSWORD=[REDACTED]"),
        "the name stays: {out:?}"
    );
}

#[test]
fn token_shapes_are_redacted_without_configuration() {
    let cases = [
        "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
        "gho_16C7e42F292c6912E7710c838347Ae178B4a",
        "ghu_16C7e42F292c6912E7710c838347Ae178B4a",
        "ghs_16C7e42F292c6912E7710c838347Ae178B4a",
        "ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV",
        "glpat-xxxxxxxxxxxxxxxxxxxx",
        "glrt-t1_AbCdEfGhIjKlMnOpQrSt",
        "gldt-0123456789abcdefghij",
        "glcbt-64_AbCdEfGhIjKlMnOpQrSt",
        "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        "AKIAIOSFODNN7EXAMPLE",
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "gta_8zWq3n0H1y2Jb7L5m9QkXcVd4FgTr6YuIoPaSsDdEeR",
    ];
    for token in cases {
        let out = redactor().redact(&format!("before {token} after"));
        assert_eq!(out, "before [REDACTED] after", "{token}");
    }
}

#[test]
fn headers_and_urls_keep_what_they_are_and_lose_the_secret() {
    let r = Redactor::default();
    assert_eq!(
        r.redact("Authorization: Bearer abc.def-123456"),
        "Authorization: Bearer [REDACTED]"
    );
    assert_eq!(
        r.redact("authorization: basic eC1hY2Nlc3MtdG9rZW46c2VjcmV0"),
        "authorization: basic [REDACTED]"
    );
    assert_eq!(
        r.redact("fatal: https://x-access-token:s3cr3t@github.com/o/r.git not found"),
        "fatal: https://x-access-token:[REDACTED]@github.com/o/r.git not found"
    );
}

#[test]
fn pem_private_keys_go_whole_even_when_cut() {
    let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1c7+9z5Pad7OejecsQ0bu3aozN3tihPmljnnudb9G3HcTZqe\nAbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghijklmnopqrstuvwx==\n-----END RSA PRIVATE KEY-----";
    let r = Redactor::new([key.to_string()]);
    assert_eq!(
        r.redact(&format!("key:\n{key}\ndone")),
        "key:\n[REDACTED]\ndone"
    );
    // Not configured, a block is still a block.
    assert_eq!(
        Redactor::default().redact(&format!("key:\n{key}\ndone")),
        "key:\n[REDACTED]\ndone"
    );
    // The head of a block, cut before its end…
    let head = &key[..80];
    assert_eq!(Redactor::default().redact(head), "[REDACTED]");
    // …and its end, cut after its beginning.
    let tail = &key[40..];
    assert_eq!(
        Redactor::default().redact(&format!("{tail}\nnext")),
        "[REDACTED]\nnext"
    );
    // A configured key's lines are caught on their own too.
    let line = key.lines().nth(1).unwrap();
    assert_eq!(r.redact(&format!("> {line}")), "> [REDACTED]");
}

#[test]
fn a_cut_text_loses_the_pieces_of_a_secret_at_its_ends() {
    let r = redactor();
    // A log tail that starts in the middle of the token, and ends in another.
    let text = format!("{}\nerror: bad\n{}", &TOKEN[20..], &WEBHOOK[..12]);
    let out = r.redact_cut(&text);
    assert_eq!(out, "[REDACTED]\nerror: bad\n[REDACTED]");
    // Ordinary text at the ends is left alone.
    assert_eq!(r.redact_cut("error: bad"), "error: bad");
}

#[test]
fn cap_keeps_both_ends_and_says_how_much_was_cut() {
    let text = format!("{}{}", "a".repeat(600), "z".repeat(600));
    let out = cap(&text, 100);
    assert_eq!(
        out,
        format!("{} [… 1100 bytes cut …] {}", "a".repeat(50), "z".repeat(50))
    );
    let lines = "line\n".repeat(100);
    let out = cap(&lines, 20);
    assert!(out.contains("\n[… 480 bytes cut …]\n"), "{out}");
    assert_eq!(cap("short", 100), "short");
    // Never inside a character.
    let out = cap(&"é".repeat(100), 9);
    assert!(out.starts_with("éé ") && out.ends_with(" éé"), "{out}");
}

#[test]
fn from_config_knows_every_secret_the_configuration_names() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("app.pem");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nAppKeyBodyAppKeyBodyAppKeyBody0123\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let runtimes = r#"{"claude":{"command":["claude"],"env":{"ANTHROPIC_API_KEY":"runtime-model-key-1","EDITOR":"vi-editor-name"}}}"#;
    let env: std::collections::HashMap<&str, String> = [
        ("GT_GITHUB_TOKEN", "github-token-value".to_string()),
        ("GT_GITLAB_TOKEN", "gitlab-token-value".to_string()),
        (
            "GT_GITHUB_WEBHOOK_SECRET",
            "new-webhook-1,old-webhook-2".to_string(),
        ),
        ("GT_GITLAB_WEBHOOK_TOKEN", "gitlab-hook-token".to_string()),
        ("GT_LLM_API_KEY", "review-model-key".to_string()),
        ("GT_GITHUB_APP_PRIVATE_KEY_FILE", key.display().to_string()),
        ("GT_RUNTIMES", runtimes.to_string()),
    ]
    .into();
    let config = crate::config::Config::load(None, &|k| env.get(k).cloned()).unwrap();
    let text = "github-token-value gitlab-token-value new-webhook-1 old-webhook-2 \
                gitlab-hook-token review-model-key AppKeyBodyAppKeyBodyAppKeyBody0123 \
                runtime-model-key-1 vi-editor-name";
    assert_eq!(
        config.redactor.redact(text),
        "[REDACTED] [REDACTED] [REDACTED] [REDACTED] [REDACTED] [REDACTED] [REDACTED] \
         [REDACTED] vi-editor-name"
    );
}

fn secret() -> impl Strategy<Value = String> {
    "[a-z]{8,40}"
}

/// Text that cannot hold a lowercase run, so never a piece of [`secret`], nor a shape.
fn other() -> impl Strategy<Value = String> {
    "[A-Z0-9 .,:\n]{0,60}"
}

proptest! {
    #[test]
    fn a_known_secret_never_survives(s in secret(), a in other(), b in other(), c in other()) {
        let r = Redactor::new([s.clone()]);
        let out = r.redact(&format!("{a}{s}{b}{s}{c}"));
        prop_assert!(!out.contains(&s), "{out:?}");
        prop_assert_eq!(out, format!("{a}{REDACTED}{b}{REDACTED}{c}"));
    }

    #[test]
    fn no_piece_of_a_secret_survives_a_cut(
        s in secret(), a in other(), b in other(), from in 0usize..200, to in 0usize..200,
    ) {
        let r = Redactor::new([s.clone()]);
        let text = format!("{a}{s}{b}");
        let (from, to) = (from.min(text.len()), to.min(text.len()));
        let piece = &text[from.min(to)..from.max(to)];
        let out = r.redact_cut(piece);
        for w in s.as_bytes().windows(MIN_FRAGMENT) {
            let w = std::str::from_utf8(w).unwrap();
            prop_assert!(!out.contains(w), "{w:?} of {s:?} in {out:?} (from {piece:?})");
        }
    }

    #[test]
    fn text_without_secrets_is_left_alone(t in "[a-z .,\n]{0,200}") {
        prop_assert_eq!(Redactor::new(["NOT-IN-TEXT-1".to_string()]).redact(&t), t);
    }

    #[test]
    fn redacting_twice_changes_nothing(s in secret(), a in other(), b in other()) {
        let r = Redactor::new([s.clone()]);
        let once = r.redact_cut(&format!("{a}{s}{b}"));
        prop_assert_eq!(r.redact_cut(&once), once.clone());
    }

    #[test]
    fn a_capped_text_is_bounded_and_keeps_its_ends(t in "[a-zé\n ]{0,400}", max in 16usize..200) {
        let out = cap(&t, max);
        if t.len() <= max {
            prop_assert_eq!(out, t);
        } else {
            prop_assert!(out.len() <= max + 40, "{} > {max}", out.len());
            let (head, rest) = out.split_once("[… ").unwrap();
            let (cut, tail) = rest.split_once(" bytes cut …]").unwrap();
            let (head, tail) = (&head[..head.len() - 1], &tail[1..]);
            prop_assert!(t.starts_with(head) && t.ends_with(tail));
            prop_assert_eq!(head.len() + cut.parse::<usize>().unwrap() + tail.len(), t.len());
        }
    }
}
