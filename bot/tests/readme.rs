//! The configuration examples in README.md are what a newcomer copies: they must load.

/// Every ```yaml block of the README, without the indentation of a list item.
fn yaml_blocks() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let indent = line.len() - line.trim_start().len();
        if line.trim_start() != "```yaml" {
            continue;
        }
        let block: Vec<&str> = lines
            .by_ref()
            .take_while(|l| l.trim_start() != "```")
            .map(|l| l.get(indent..).unwrap_or(""))
            .collect();
        blocks.push(block.join("\n") + "\n");
    }
    blocks
}

#[test]
fn the_readme_server_configuration_example_is_valid() {
    let blocks = yaml_blocks();
    let server = blocks
        .iter()
        .find(|b| b.starts_with("listen:"))
        .expect("the server configuration example");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gastown.yaml");
    std::fs::write(&path, server).unwrap();
    let config = bot::config::Config::load(Some(&path), &|_| None)
        .unwrap_or_else(|e| panic!("README example: {e}"));
    assert_eq!(config.rigs.map(|r| r.len()), Some(2));
}

#[test]
fn the_readme_gastown_yaml_example_is_valid() {
    let blocks = yaml_blocks();
    let repo = blocks
        .iter()
        .find(|b| b.starts_with("# .gastown.yaml"))
        .expect("the .gastown.yaml example");
    let config = bot::config::repo::parse(repo, "README.md")
        .unwrap_or_else(|e| panic!("README .gastown.yaml example: {e}"));
    assert_eq!(config.quality_gates.len(), 2);
    assert!(config.auto_merge);
}
