//! Page slicing and page links, shared by the GitHub and GitLab faces: both forges
//! page with `page` and `per_page` and link pages the same way; they differ only in
//! the default page size, the order of the query parameters and the extra headers
//! GitLab adds.

use std::collections::HashMap;

use axum::extract::OriginalUri;
use serde_json::Value;

use crate::Sim;

/// One page of a list and what is needed to link its neighbours.
pub struct Page {
    pub items: Vec<Value>,
    pub page: usize,
    pub per_page: usize,
    pub total: usize,
    pub pages: usize,
}

/// Cut `items` by the request's `per_page` (`default_per_page` when absent, at most
/// 100) and `page` (from 1).
pub fn page_of(
    query: &HashMap<String, String>,
    default_per_page: usize,
    items: Vec<Value>,
) -> Page {
    let number = |key: &str| query.get(key).and_then(|v| v.parse::<usize>().ok());
    let per_page = number("per_page").unwrap_or(default_per_page).clamp(1, 100);
    let page = number("page").unwrap_or(1).max(1);
    let total = items.len();
    let pages = total.div_ceil(per_page).max(1);
    let items = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    Page {
        items,
        page,
        per_page,
        total,
        pages,
    }
}

/// `<url>` of page `n` of this request, keeping its other query parameters.
/// `page_first` puts `page` before `per_page`, as GitLab does.
pub fn link_to(
    sim: &Sim,
    uri: &OriginalUri,
    per_page: usize,
    n: usize,
    page_first: bool,
) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        if k != "page" && k != "per_page" {
            q.append_pair(&k, &v);
        }
    }
    let (page, per_page) = (n.to_string(), per_page.to_string());
    if page_first {
        q.append_pair("page", &page);
        q.append_pair("per_page", &per_page);
    } else {
        q.append_pair("per_page", &per_page);
        q.append_pair("page", &page);
    }
    format!("<{}{}?{}>", sim.urls.web, uri.path(), q.finish())
}
