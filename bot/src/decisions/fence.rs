//! Fences around untrusted text in a prompt (issue titles and bodies, diffs, tool
//! output, review comments). A fixed marker such as `ISSUE>>>` can be written by
//! whoever wrote the text, ending the data early and turning the rest into
//! instructions. Each prompt gets a fence with a tag of 16 random hex characters
//! instead: the text cannot know it in advance, and a tag that happens to occur in
//! the text is drawn again.

use std::fmt;

/// One prompt's fence tag. Every fenced block of the prompt uses the same tag, so the
/// instructions can name it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    tag: String,
}

impl Fence {
    /// A fresh tag that occurs in none of `texts` (the untrusted texts the prompt is
    /// about to carry).
    pub fn new(texts: &[&str]) -> Self {
        loop {
            let bytes: [u8; 8] = rand::random();
            let tag = hex::encode(bytes);
            if !texts.iter().any(|t| t.contains(&tag)) {
                return Self { tag };
            }
        }
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The line that opens a block named `name`: `<<<ISSUE_<tag>`.
    pub fn open(&self, name: &str) -> String {
        format!("<<<{name}_{}", self.tag)
    }

    /// The line that closes it: `ISSUE_<tag>>>>`.
    pub fn close(&self, name: &str) -> String {
        format!("{name}_{}>>>", self.tag)
    }

    /// `text` between the block's markers, each on its own line.
    pub fn wrap(&self, name: &str, text: &str) -> String {
        format!("{}\n{text}\n{}", self.open(name), self.close(name))
    }
}

impl fmt::Display for Fence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_sixteen_random_hex_characters_fresh_for_each_prompt() {
        let (a, b) = (Fence::new(&[]), Fence::new(&[]));
        assert_eq!(a.tag().len(), 16);
        assert!(a.tag().chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b, "two prompts, two tags");
        assert_eq!(a.wrap("DIFF", "x"), format!("<<<DIFF_{a}\nx\nDIFF_{a}>>>"));
    }

    #[test]
    fn a_tag_never_occurs_in_the_text_it_fences() {
        // Every one-byte-shorter prefix can be in the text; the tag itself never is.
        let text: String = (0..4096).map(|i| format!("{i:016x}\n")).collect();
        for _ in 0..64 {
            let f = Fence::new(&[&text]);
            assert!(!text.contains(f.tag()));
        }
    }
}
