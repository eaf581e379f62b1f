//! RSS 2.0, RSS 0.9x/1.0 (RDF) and Atom: a lenient element tree built from quick-xml events,
//! then read into `RawItem`s.
//!
//! Lenient the way feed readers must be: mismatched end tags close back to the matching open
//! element (unclosed `<br>` inside a description), unknown entities survive for the HTML
//! decoder, namespaces are matched by URI with the usual prefixes as a fallback when a feed
//! forgets to declare them. A syntax error or truncation keeps every item completed before it
//! and reports one `ItemError`. Pure; no I/O.

use crate::feed::{
    finish_item, source_base, FeedError, FeedFormat, ItemError, ParsedFeed, RawItem,
};
use crate::url::{is_absolute, resolve};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ns {
    None,
    Atom,
    Rss1,
    Rdf,
    Dc,
    Content,
    Other,
}

fn ns_from_uri(uri: &str) -> Ns {
    match uri.trim() {
        "http://www.w3.org/2005/Atom" | "http://purl.org/atom/ns#" => Ns::Atom,
        "http://purl.org/rss/1.0/" | "http://my.netscape.com/rdf/simple/0.9/" => Ns::Rss1,
        "http://www.w3.org/1999/02/22-rdf-syntax-ns#" => Ns::Rdf,
        "http://purl.org/dc/elements/1.1/" | "http://purl.org/dc/terms/" => Ns::Dc,
        "http://purl.org/rss/1.0/modules/content/" => Ns::Content,
        // RSS 2.0 has no namespace, but some generators declare the Userland one.
        "http://backend.userland.com/rss2" | "http://blogs.law.harvard.edu/tech/rss" => Ns::None,
        _ => Ns::Other,
    }
}

fn ns_from_prefix(prefix: &str) -> Ns {
    match prefix {
        "" => Ns::None,
        "atom" | "a10" => Ns::Atom,
        "rdf" => Ns::Rdf,
        "dc" | "dcterms" => Ns::Dc,
        "content" => Ns::Content,
        _ => Ns::Other,
    }
}

#[derive(Debug)]
enum Node {
    Elem(Elem),
    Text(String),
}

#[derive(Debug)]
struct Elem {
    qname: String,
    ns: Ns,
    local: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
    /// Effective xml:base (inherited), possibly relative.
    base: Option<String>,
    /// Namespace declarations made on this element.
    scope: Vec<(String, String)>,
    /// True once its end tag (or an enclosing one) was seen.
    complete: bool,
    /// Byte offset of the start tag, for line numbers in errors.
    pos: usize,
}

impl Elem {
    fn is(&self, ns_plain: bool, local: &str) -> bool {
        self.local == local && (!ns_plain || matches!(self.ns, Ns::None | Ns::Rss1))
    }
    fn is_ns(&self, ns: Ns, local: &str) -> bool {
        self.ns == ns && self.local == local
    }
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn elems(&self) -> impl Iterator<Item = &Elem> {
        self.children.iter().filter_map(|n| match n {
            Node::Elem(e) => Some(e),
            Node::Text(_) => None,
        })
    }
    fn child(&self, pred: impl Fn(&Elem) -> bool) -> Option<&Elem> {
        self.elems().find(|e| pred(e))
    }
    /// The element's content as an HTML-ish string: text as is, child elements re-emitted as
    /// bare tags (unescaped HTML and Atom xhtml content), so `clean_html` treats both alike.
    fn inner(&self) -> String {
        let mut out = String::new();
        self.write_inner(&mut out);
        out
    }
    fn write_inner(&self, out: &mut String) {
        for n in &self.children {
            match n {
                Node::Text(t) => out.push_str(t),
                // A nameless "tag" is a stray `<` the reader took for markup: keep its text.
                Node::Elem(e) if e.local.is_empty() => e.write_inner(out),
                Node::Elem(e) => {
                    out.push('<');
                    out.push_str(&e.local);
                    out.push('>');
                    e.write_inner(out);
                    out.push_str("</");
                    out.push_str(&e.local);
                    out.push('>');
                }
            }
        }
    }
    fn text(&self) -> String {
        self.inner().trim().to_string()
    }
}

fn line_of(text: &str, pos: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(pos)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Decodes an attribute value: XML/HTML entities, trimmed of nothing (hrefs keep spaces
/// only inside, which `finish_item` trims).
fn attr_value(raw: &[u8]) -> String {
    crate::text::decode_entities(&String::from_utf8_lossy(raw))
}

struct Builder {
    stack: Vec<Elem>,
    root: Option<Elem>,
}

impl Builder {
    fn resolve_ns(&self, own_scope: &[(String, String)], prefix: &str) -> Ns {
        let declared = own_scope
            .iter()
            .chain(self.stack.iter().rev().flat_map(|e| e.scope.iter()))
            .find(|(p, _)| p == prefix)
            .map(|(_, uri)| uri.as_str());
        match declared {
            Some(uri) => match ns_from_uri(uri) {
                // An unknown URI bound to a well-known prefix is still most likely that
                // vocabulary (a typo or an old URI), so fall back to the prefix.
                Ns::Other => ns_from_prefix(prefix),
                ns => ns,
            },
            None => ns_from_prefix(prefix),
        }
    }

    fn open(&self, e: &BytesStart<'_>, pos: usize) -> Elem {
        let qname = String::from_utf8_lossy(e.name().as_ref()).into_owned();
        let mut attrs = Vec::new();
        let mut scope = Vec::new();
        let mut it = e.html_attributes();
        it.with_checks(false);
        for a in it.flatten() {
            let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
            let value = attr_value(&a.value);
            if key == "xmlns" {
                scope.push((String::new(), value.clone()));
            } else if let Some(p) = key.strip_prefix("xmlns:") {
                scope.push((p.to_string(), value.clone()));
            }
            attrs.push((key, value));
        }
        let (prefix, local) = match qname.split_once(':') {
            Some((p, l)) => (p, l),
            None => ("", qname.as_str()),
        };
        let ns = self.resolve_ns(&scope, prefix);
        let parent_base = self.stack.last().and_then(|p| p.base.clone());
        let base = match attrs.iter().find(|(k, _)| k == "xml:base") {
            Some((_, b)) => Some(match &parent_base {
                Some(pb) => resolve(pb, b),
                None => b.trim().to_string(),
            }),
            None => parent_base,
        };
        Elem {
            local: local.to_string(),
            qname: qname.clone(),
            ns,
            attrs,
            children: Vec::new(),
            base,
            scope,
            complete: false,
            pos,
        }
    }

    fn attach(&mut self, el: Elem) {
        match self.stack.last_mut() {
            Some(parent) => parent.children.push(Node::Elem(el)),
            None => {
                if self.root.is_none() {
                    self.root = Some(el);
                }
            }
        }
    }

    fn push_text(&mut self, s: &str) {
        if let Some(top) = self.stack.last_mut() {
            match top.children.last_mut() {
                Some(Node::Text(t)) => t.push_str(s),
                _ => top.children.push(Node::Text(s.to_string())),
            }
        }
    }

    /// Closes back to the innermost open element named `qname`; an end tag with no matching
    /// open element is ignored.
    fn close(&mut self, qname: &str) {
        let Some(idx) = self.stack.iter().rposition(|e| e.qname == qname) else {
            return;
        };
        while self.stack.len() > idx {
            let Some(mut el) = self.stack.pop() else {
                break;
            };
            el.complete = true;
            self.attach(el);
        }
    }

    /// After an error or EOF: closes everything still open without marking it complete.
    fn abandon(&mut self) {
        while let Some(el) = self.stack.pop() {
            self.attach(el);
        }
    }

    fn open_names(&self) -> String {
        self.stack
            .iter()
            .map(|e| format!("<{}>", e.qname))
            .collect::<Vec<_>>()
            .join(" > ")
    }
}

fn root_format(root: &Elem) -> Result<FeedFormat, FeedError> {
    match (root.local.as_str(), &root.ns) {
        ("rss", _) => Ok(FeedFormat::Rss),
        ("RDF", _) => Ok(FeedFormat::Rdf),
        ("feed", Ns::Atom | Ns::None) => Ok(FeedFormat::Atom),
        _ => {
            let hint = if root.local.eq_ignore_ascii_case("html") {
                " (an HTML page?)"
            } else {
                ""
            };
            Err(FeedError::NotAFeed(format!(
                "root element is <{}>, expected <rss>, <feed> (Atom) or <rdf:RDF>{hint}",
                root.qname
            )))
        }
    }
}

/// Parses an XML feed document (already decoded to UTF-8).
pub(crate) fn parse_xml(text: &str, source: &str) -> Result<ParsedFeed, FeedError> {
    let mut reader = Reader::from_str(text);
    {
        let cfg = reader.config_mut();
        cfg.check_end_names = false;
        cfg.allow_unmatched_ends = true;
        cfg.allow_dangling_amp = true;
        cfg.check_comments = false;
    }
    let mut b = Builder {
        stack: Vec::new(),
        root: None,
    };
    let mut format = None;
    let mut broken: Option<String> = None;
    loop {
        let pos = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => {
                let at = usize::try_from(reader.error_position()).unwrap_or(pos);
                broken = Some(format!("XML error at line {}: {e}", line_of(text, at)));
                break;
            }
        };
        match event {
            Event::Start(e) => {
                let el = b.open(&e, pos);
                if b.root.is_none() && b.stack.is_empty() {
                    format = Some(root_format(&el)?);
                }
                b.stack.push(el);
            }
            Event::Empty(e) => {
                let mut el = b.open(&e, pos);
                if b.root.is_none() && b.stack.is_empty() {
                    format = Some(root_format(&el)?);
                }
                el.complete = true;
                b.attach(el);
            }
            Event::End(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                b.close(&name);
            }
            Event::Text(t) => b.push_text(&String::from_utf8_lossy(&t)),
            Event::CData(c) => b.push_text(&String::from_utf8_lossy(&c)),
            Event::GeneralRef(r) => {
                let name = String::from_utf8_lossy(&r).into_owned();
                let s = match name.as_str() {
                    "lt" => "<".to_string(),
                    "gt" => ">".to_string(),
                    "amp" => "&".to_string(),
                    "quot" => "\"".to_string(),
                    "apos" => "'".to_string(),
                    // Character and HTML named references go through the HTML decoder later,
                    // which knows windows-1252 numeric quirks and HTML names.
                    _ => format!("&{name};"),
                };
                b.push_text(&s);
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
        if b.root.is_some() && b.stack.is_empty() {
            break;
        }
    }
    if broken.is_none() && !b.stack.is_empty() {
        broken = Some(format!(
            "document ends inside {} (truncated?)",
            b.open_names()
        ));
    }
    b.abandon();
    let (Some(root), Some(format)) = (b.root, format) else {
        return Err(FeedError::NotAFeed(match broken {
            Some(e) => format!("no root element could be read: {e}"),
            None => "no root element".to_string(),
        }));
    };
    let mut feed = ParsedFeed {
        format,
        items: Vec::new(),
        errors: Vec::new(),
    };
    let src_base = source_base(source);
    match format {
        FeedFormat::Rss | FeedFormat::Rdf => read_rss(&root, source, src_base, text, &mut feed),
        _ => read_atom(&root, source, src_base, text, &mut feed),
    }
    if let Some(msg) = broken {
        let index = feed.items.len() + feed.errors.len();
        feed.errors.push(ItemError {
            index,
            message: format!("{msg}; items from here on were not read"),
        });
    }
    Ok(feed)
}

/// The effective base for an element's links: its (absolute) xml:base, else the fallbacks.
fn effective_base<'a>(el: &'a Elem, fallback: Option<&'a str>) -> Option<String> {
    match el.base.as_deref() {
        Some(b) if is_absolute(b) => Some(b.to_string()),
        Some(b) => fallback.map(|f| resolve(f, b)),
        None => fallback.map(str::to_string),
    }
}

fn push_result(
    feed: &mut ParsedFeed,
    index: usize,
    el: &Elem,
    text: &str,
    r: Result<crate::Item, String>,
) {
    match r {
        Ok(item) => feed.items.push(item),
        Err(m) => feed.errors.push(ItemError {
            index,
            message: format!("{m} (line {})", line_of(text, el.pos)),
        }),
    }
}

fn read_rss(root: &Elem, source: &str, src_base: Option<&str>, text: &str, feed: &mut ParsedFeed) {
    let channel = root.child(|e| e.is(true, "channel"));
    let channel_link = channel
        .and_then(|c| c.child(|e| e.is(true, "link")))
        .map(|l| l.text())
        .filter(|l| !l.is_empty())
        .map(|l| match src_base {
            Some(s) => resolve(s, &l),
            None => l,
        });
    let fallback = channel_link.as_deref().or(src_base);
    // RSS 2.0 nests items in the channel; RSS 1.0 puts them beside it; broken feeds do both.
    let items = channel
        .into_iter()
        .flat_map(|c| c.elems())
        .chain(root.elems())
        .filter(|e| e.is(true, "item"));
    for (index, el) in items.enumerate() {
        if !el.complete {
            continue;
        }
        let base = effective_base(el, fallback);
        let raw = rss_item(el);
        let r = finish_item(raw, source, &[base.as_deref(), fallback]);
        push_result(feed, index, el, text, r);
    }
}

/// A test on an element, for tables of "which child holds this field".
type ElemPred = dyn Fn(&Elem) -> bool;

fn rss_item(el: &Elem) -> RawItem {
    let find = |pred: &dyn Fn(&Elem) -> bool| {
        el.child(pred)
            .map(Elem::inner)
            .filter(|s| !s.trim().is_empty())
    };
    let guid_el = el.child(|e| e.is(true, "guid"));
    let guid = guid_el
        .map(Elem::text)
        .filter(|g| !g.is_empty())
        .or_else(|| el.attr("rdf:about").map(str::to_string));
    let permalink = guid_el
        .filter(|g| {
            g.attr("isPermaLink")
                .is_none_or(|v| !v.eq_ignore_ascii_case("false"))
        })
        .map(Elem::text)
        .filter(|g| g.starts_with("http://") || g.starts_with("https://"));
    let link = el
        .child(|e| e.is(true, "link"))
        .map(Elem::text)
        .filter(|l| !l.is_empty())
        .or_else(|| atom_link(el))
        .or(permalink);
    let date_fields: [(&ElemPred, &'static str); 5] = [
        (&|e| e.is(true, "pubDate"), "pubDate"),
        (&|e| e.is_ns(Ns::Dc, "date"), "dc:date"),
        (&|e| e.is_ns(Ns::Atom, "published"), "atom:published"),
        (&|e| e.is_ns(Ns::Atom, "updated"), "atom:updated"),
        (&|e| e.is_ns(Ns::Dc, "created"), "dcterms:created"),
    ];
    let date = date_fields
        .iter()
        .find_map(|(pred, name)| find(*pred).map(|d| (d, *name)));
    RawItem {
        guid,
        title: find(&|e| e.is(true, "title")).or_else(|| find(&|e| e.is_ns(Ns::Dc, "title"))),
        link,
        summary: find(&|e| e.is(true, "description"))
            .or_else(|| find(&|e| e.is_ns(Ns::Content, "encoded")))
            .or_else(|| find(&|e| e.is_ns(Ns::Atom, "summary"))),
        date,
        tickers: Vec::new(),
    }
}

/// The alternate link among an element's Atom `<link>` children: `rel="alternate"` (or no
/// rel) preferring `type="text/html"`, else any link that is not self/edit/replies.
fn atom_link(el: &Elem) -> Option<String> {
    let links: Vec<&Elem> = el
        .elems()
        .filter(|e| e.local == "link" && matches!(e.ns, Ns::Atom) && e.attr("href").is_some())
        .collect();
    let rel = |e: &Elem| {
        e.attr("rel")
            .unwrap_or("alternate")
            .trim()
            .to_ascii_lowercase()
    };
    let alternate: Vec<&&Elem> = links.iter().filter(|e| rel(e) == "alternate").collect();
    let pick = alternate
        .iter()
        .find(|e| e.attr("type").is_none_or(|t| t.contains("html")))
        .or(alternate.first())
        .map(|e| **e)
        .or_else(|| {
            links
                .iter()
                .find(|e| {
                    !matches!(
                        rel(e).as_str(),
                        "self" | "edit" | "replies" | "hub" | "enclosure"
                    )
                })
                .copied()
        });
    pick.and_then(|e| e.attr("href"))
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

fn read_atom(root: &Elem, source: &str, src_base: Option<&str>, text: &str, feed: &mut ParsedFeed) {
    let is_atom = |e: &Elem, local: &str| e.local == local && matches!(e.ns, Ns::Atom | Ns::None);
    let feed_base = effective_base(root, src_base);
    let feed_link = atom_link_any_ns(root).map(|l| match feed_base.as_deref() {
        Some(b) => resolve(b, &l),
        None => l,
    });
    let fallback = feed_base.as_deref().or(feed_link.as_deref());
    for (index, el) in root.elems().filter(|e| is_atom(e, "entry")).enumerate() {
        if !el.complete {
            continue;
        }
        let find = |local: &str| {
            el.child(|e| is_atom(e, local))
                .map(Elem::inner)
                .filter(|s| !s.trim().is_empty())
        };
        let date = [
            ("published", "published"),
            ("updated", "updated"),
            ("issued", "issued"),
            ("modified", "modified"),
        ]
        .iter()
        .find_map(|(local, name)| find(local).map(|d| (d, *name)));
        let raw = RawItem {
            guid: find("id").map(|s| s.trim().to_string()),
            title: find("title"),
            link: atom_link_any_ns(el),
            summary: find("summary").or_else(|| find("content")),
            date,
            tickers: Vec::new(),
        };
        let base = effective_base(el, fallback);
        let r = finish_item(raw, source, &[base.as_deref(), fallback]);
        push_result(feed, index, el, text, r);
    }
}

/// `atom_link` for documents whose Atom namespace may be missing (elements then have no ns).
fn atom_link_any_ns(el: &Elem) -> Option<String> {
    atom_link(el).or_else(|| {
        el.elems()
            .filter(|e| e.local == "link" && e.ns == Ns::None)
            .find(|e| {
                e.attr("rel")
                    .is_none_or(|r| r.trim().eq_ignore_ascii_case("alternate"))
            })
            .and_then(|e| e.attr("href"))
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
    })
}
