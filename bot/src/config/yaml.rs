//! YAML into a JSON value plus the line of every node, so a schema error at
//! `/worker/max_attempts` can be reported as `gastown.yaml:7`.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;

/// A parsed YAML document: the value and the line and column (1-based) of each JSON
/// pointer.
#[derive(Debug, Default)]
pub struct LocatedDoc {
    pub value: Value,
    pub lines: HashMap<String, u64>,
    pub columns: HashMap<String, u64>,
}

impl LocatedDoc {
    /// The line of the node at `pointer`, or of its nearest located ancestor (a missing
    /// field is reported where its parent object starts).
    pub fn line_of(&self, pointer: &str) -> Option<u64> {
        self.position_of(pointer).map(|(line, _)| line)
    }

    /// The line and column of the node at `pointer`, or of its nearest located
    /// ancestor.
    pub fn position_of(&self, pointer: &str) -> Option<(u64, u64)> {
        let mut p = pointer;
        loop {
            if let Some(line) = self.lines.get(p) {
                return Some((*line, self.columns.get(p).copied().unwrap_or(1)));
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return None,
            }
        }
    }
}

enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(String, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<KeyString>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key.0, value));
        }
        Ok(Node::Map(entries))
    }
}

/// Map keys as strings: YAML allows `1: x`, JSON Schema sees `"1"`.
struct KeyString(String);

impl<'de> Deserialize<'de> for KeyString {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let node = Node::deserialize(d)?;
        Ok(KeyString(match node {
            Node::Str(s) => s,
            Node::Int(i) => i.to_string(),
            Node::UInt(u) => u.to_string(),
            Node::Bool(b) => b.to_string(),
            Node::Float(f) => f.to_string(),
            Node::Null => "null".into(),
            Node::Seq(_) | Node::Map(_) => {
                return Err(de::Error::custom("a mapping key must be a scalar"));
            }
        }))
    }
}

/// Parse YAML text. An empty document is an empty mapping.
pub fn parse(text: &str) -> Result<LocatedDoc, String> {
    if text.trim().is_empty() {
        return Ok(LocatedDoc {
            value: Value::Object(Map::new()),
            ..Default::default()
        });
    }
    let root: Spanned<Node> = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    let mut doc = LocatedDoc::default();
    doc.value = convert(root, String::new(), &mut doc);
    Ok(doc)
}

fn convert(node: Spanned<Node>, pointer: String, doc: &mut LocatedDoc) -> Value {
    let line = node.referenced.line();
    if line > 0 {
        doc.lines.insert(pointer.clone(), line);
        doc.columns
            .insert(pointer.clone(), node.referenced.column());
    }
    match node.value {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Int(i) => Value::Number(i.into()),
        Node::UInt(u) => Value::Number(u.into()),
        Node::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Node::Str(s) => Value::String(s),
        Node::Seq(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| convert(item, format!("{pointer}/{i}"), doc))
                .collect(),
        ),
        Node::Map(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let child = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                    let v = convert(v, child, doc);
                    (k, v)
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_the_line_of_every_node() {
        let doc = parse(
            "listen: a\nworker:\n  max_attempts: 3\nrigs:\n  - forge: github\n    repo: o/r\n",
        )
        .unwrap();
        assert_eq!(doc.value["worker"]["max_attempts"], 3);
        assert_eq!(doc.line_of("/worker/max_attempts"), Some(3));
        assert_eq!(doc.line_of("/rigs/0/repo"), Some(6));
        assert_eq!(doc.line_of("/rigs/0/missing"), Some(5));
        assert_eq!(doc.position_of("/rigs/0/repo"), Some((6, 11)));
    }

    #[test]
    fn syntax_errors_carry_a_location() {
        let e = parse("a: [1, 2\nb: c").unwrap_err();
        assert!(e.contains("line"), "{e}");
    }
}
