//! Serde plumbing shared by the GitHub and GitLab parsers.
//!
//! Each delivery is read twice: once for the few fields that decide whether we act on
//! it at all, then, only if we do, into the struct for its kind. The second read costs
//! little next to storing the delivery, and it means a payload shape we never look at
//! (a new action, an odd field on a pinned issue) cannot turn into an error.

use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::ParseError;
use crate::event::{ForgeEvent, IgnoredEvent, RepoRef};
use crate::route::url_host;

/// What a family parser needs to know about one delivery.
pub(crate) struct Delivery<'a> {
    /// Fallback for the repository's host when the payload has no web URL.
    pub host: &'a str,
    pub event: &'a str,
    pub body: &'a [u8],
}

impl Delivery<'_> {
    pub fn read<T: DeserializeOwned>(&self) -> Result<T, ParseError> {
        from_slice(self.event, self.body)
    }
}

/// Read `body` as `T`. A value of the wrong shape becomes [`ParseError::Field`] naming
/// its JSON path, so the inbox row says which field of which delivery broke.
pub(crate) fn from_slice<'de, T: Deserialize<'de>>(
    event: &str,
    body: &'de [u8],
) -> Result<T, ParseError> {
    // The tracked path costs a little on every value; only a failing read needs it, so
    // the happy path reads plainly and a failure is read again to name the field.
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        classify(event, path, e.into_inner())
    })?;
    de.end().map_err(|e| classify(event, ".".into(), e))?;
    Ok(value)
}

fn classify(event: &str, path: String, e: serde_json::Error) -> ParseError {
    if e.is_data() {
        ParseError::Field {
            event: event.to_owned(),
            path,
            message: e.to_string(),
        }
    } else {
        ParseError::Json {
            event: event.to_owned(),
            message: e.to_string(),
        }
    }
}

/// For a field that is absent from a payload we act on but that we cannot do without
/// (serde only reports missing fields for non-`Option` types, and some of ours have
/// fallbacks before they are really missing).
pub(crate) fn missing(event: &str, path: &str) -> ParseError {
    ParseError::Field {
        event: event.to_owned(),
        path: path.to_owned(),
        message: "missing or null".to_owned(),
    }
}

/// A JSON object whose contents we do not care about. Used to tell "valid JSON we
/// ignore" from garbage without building a value tree.
pub(crate) struct AnyObject;

impl<'de> Deserialize<'de> for AnyObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AnyObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyObject, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(AnyObject)
            }
        }
        d.deserialize_map(V)
    }
}

/// Build the `Ignored` event for a delivery we do not act on. `envelope` is the attempt
/// to read its action and repository; when those have an unexpected shape the delivery
/// is still only ignored (it is not a kind we act on), as long as it is a JSON object.
pub(crate) fn ignored<E>(
    event: &str,
    body: &[u8],
    envelope: impl FnOnce() -> Result<E, ParseError>,
    fields: impl FnOnce(E) -> (Option<String>, Option<RepoRef>),
) -> Result<Vec<ForgeEvent>, ParseError> {
    let (action, repo) = match envelope() {
        Ok(env) => fields(env),
        Err(ParseError::Field { .. }) => {
            from_slice::<AnyObject>(event, body)?;
            (None, None)
        }
        Err(e) => return Err(e),
    };
    Ok(vec![ForgeEvent::Ignored(IgnoredEvent {
        event: event.to_owned(),
        action,
        repo,
    })])
}

/// The repository's host, from its web URL when the payload has one: one bot may serve
/// several GitHub Enterprise or GitLab hosts, and the URL is what the forge itself says.
pub(crate) fn web_host(web_url: Option<&str>, fallback: &str) -> String {
    web_url
        .and_then(url_host)
        .unwrap_or_else(|| fallback.to_ascii_lowercase())
}

/// Names of labels, skipping entries without one (a label deleted mid-delivery can
/// show up as an object with a null name).
pub(crate) fn label_names<L>(
    labels: Option<Vec<L>>,
    name: impl Fn(L) -> Option<String>,
) -> Vec<String> {
    labels.into_iter().flatten().filter_map(name).collect()
}
