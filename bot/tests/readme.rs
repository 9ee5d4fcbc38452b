//! The configuration example in README.md is what a newcomer copies: it must load.

#[test]
fn the_readme_configuration_example_is_valid() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let start = readme.find("```yaml\n").expect("a yaml block in README.md") + 8;
    let len = readme[start..].find("```").expect("closed yaml block");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gastown.yaml");
    std::fs::write(&path, &readme[start..start + len]).unwrap();
    let config = bot::config::Config::load(Some(&path), &|_| None)
        .unwrap_or_else(|e| panic!("README example: {e}"));
    assert_eq!(config.rigs.map(|r| r.len()), Some(2));
}
