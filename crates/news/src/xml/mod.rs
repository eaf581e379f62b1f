//! RSS 2.0, RSS 0.9x/1.0 (RDF) and Atom, read in one streaming pass over quick-xml events
//! straight into `RawItem`s: no element tree is built, so nothing about the document's shape
//! can make a walk recursive or a drop deep.
//!
//! Lenient the way feed readers must be: mismatched end tags close back to the matching open
//! element (unclosed `<br>` inside a description), unknown entities survive for the HTML
//! decoder, namespaces are matched by URI with the usual prefixes as a fallback when a feed
//! forgets to declare them. A syntax error or truncation keeps every item completed before it
//! and reports one `ItemError`.
//!
//! Bounded for hostile input: nesting deeper than `MAX_DEPTH` stops the read the same way (with
//! the line); only the fields an item still needs are buffered, one item at a time, and each
//! item is finished as soon as it closes; namespace scopes and end-tag matches are hash
//! lookups, not walks over the open elements; `xml:base` values and links longer than
//! `MAX_URL_CHARS` are ignored, so no base is copied per element; line numbers come from one
//! counter that only moves forward. Time and memory are linear in the document. Pure; no I/O.
//!
//! This file is the event loop (open elements, namespaces, roles); `item.rs` decides which
//! element feeds which item field, `field.rs` turns a captured element into plain text,
//! `names.rs` knows the vocabulary (namespaces, attributes, roots), `place.rs` line numbers
//! and base URLs.

mod field;
mod item;
mod names;
mod place;

use crate::feed::{
    finish_item, source_base, FeedError, FeedFormat, ItemError, ParsedFeed, MAX_URL_CHARS,
};
use crate::text::numeric_char;
use crate::url::resolve;
use field::{Field, Mode};
use item::{ItemAcc, LinkPick, Slot};
use names::{attr_value, is_void, ns_from_prefix, ns_from_uri, root_format};
use names::{Attrs, Ns};
use place::{effective_base, inherit, Lines};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::collections::HashMap;

/// Deepest element nesting read. Real feeds stay far below (HTML void elements such as `<br>`
/// inside a field do not nest); a document that goes deeper is cut off there.
pub const MAX_DEPTH: usize = 512;

/// What an open element is to the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Root,
    Channel,
    Item,
    /// `media:group` / `media:content` inside an item.
    Group,
    /// An element whose content is being captured (`State::field`).
    Field,
    /// An element inside a field: re-emitted as a bare tag into the field's text.
    Inside,
    /// Anything else: read past.
    Skip,
}

#[derive(Debug)]
struct Frame {
    qname: String,
    /// Where the local name starts in `qname`.
    local_at: usize,
    role: Role,
    /// Prefixes declared on this element, taken out of the scope map when it closes.
    declared: Vec<String>,
}

struct State<'a> {
    source: &'a str,
    src_base: Option<&'a str>,
    format: Option<FeedFormat>,
    stack: Vec<Frame>,
    /// Prefix -> the namespaces bound to it by the open elements, innermost last.
    scopes: HashMap<String, Vec<Ns>>,
    /// Qualified name -> how many open elements have it (end tags with none are ignored).
    open: HashMap<String, u32>,
    lines: Lines<'a>,
    root_base: Option<String>,
    channel_base: Option<String>,
    channel_link: Option<String>,
    feed_links: LinkPick,
    item: Option<ItemAcc>,
    field: Option<Field>,
    feed: ParsedFeed,
    /// Set when the root closed or `MAX_ITEMS` were read: nothing more is read.
    done: bool,
    /// The index of the first item beyond `MAX_ITEMS`.
    full: Option<usize>,
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
    let mut st = State {
        source,
        src_base: source_base(source),
        format: None,
        stack: Vec::new(),
        scopes: HashMap::new(),
        open: HashMap::new(),
        lines: Lines::new(text.as_bytes()),
        root_base: None,
        channel_base: None,
        channel_link: None,
        feed_links: LinkPick::default(),
        item: None,
        field: None,
        // Replaced once the root element names the format.
        feed: ParsedFeed::new(FeedFormat::Rss),
        done: false,
        full: None,
    };
    let mut broken: Option<String> = None;
    loop {
        let pos = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => {
                let at = usize::try_from(reader.error_position()).unwrap_or(pos);
                broken = Some(format!("XML error at line {}: {e}", st.lines.at(at)));
                break;
            }
        };
        match event {
            Event::Start(e) => {
                if st.stack.len() >= MAX_DEPTH {
                    broken = Some(format!(
                        "elements nested deeper than {MAX_DEPTH} levels at line {}",
                        st.lines.at(pos)
                    ));
                    break;
                }
                st.open_element(&e, pos, false)?;
            }
            Event::Empty(e) => st.open_element(&e, pos, true)?,
            Event::End(e) => st.close(&String::from_utf8_lossy(e.name().as_ref())),
            Event::Text(t) => st.text(&String::from_utf8_lossy(&t)),
            Event::CData(c) => st.text(&String::from_utf8_lossy(&c)),
            Event::GeneralRef(r) => st.reference(&String::from_utf8_lossy(&r)),
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
        if st.done {
            break;
        }
    }
    let Some(format) = st.format else {
        return Err(FeedError::NotAFeed(match broken {
            Some(e) => format!("no root element could be read: {e}"),
            None => "no root element".to_string(),
        }));
    };
    if let Some(index) = st.full {
        let mut feed = st.feed;
        feed.format = format;
        feed.too_many(index);
        return Ok(feed);
    }
    if broken.is_none() && !st.stack.is_empty() {
        let open: Vec<String> = st.stack.iter().map(|f| format!("<{}>", f.qname)).collect();
        broken = Some(format!(
            "document ends inside {} (truncated?)",
            open.join(" > ")
        ));
    }
    let mut feed = st.feed;
    feed.format = format;
    if let Some(msg) = broken {
        // The item being read when the document broke, else the next one.
        let index = st.item.as_ref().map_or(feed.seen(), |i| i.index);
        feed.push_error(ItemError {
            index,
            message: format!("{msg}; items from here on were not read"),
        });
    }
    Ok(feed)
}

impl State<'_> {
    /// Resolves the namespace of `prefix` with the open elements' declarations.
    fn resolve_ns(&self, prefix: &str) -> Ns {
        match self.scopes.get(prefix).and_then(|v| v.last()) {
            // An unknown URI bound to a well-known prefix is still most likely that
            // vocabulary (a typo or an old URI), so fall back to the prefix.
            Some(Ns::Other) | None => ns_from_prefix(prefix),
            Some(ns) => *ns,
        }
    }

    fn open_element(
        &mut self,
        e: &BytesStart<'_>,
        pos: usize,
        empty: bool,
    ) -> Result<(), FeedError> {
        let qname = String::from_utf8_lossy(e.name().as_ref()).into_owned();
        let local_at = qname.find(':').map_or(0, |i| i + 1);
        let parent = self.stack.last().map(|f| f.role);
        if matches!(parent, Some(Role::Field | Role::Inside)) {
            // Content of a field: only its tag matters, as a bare tag for the HTML cleaner.
            let local = qname.get(local_at..).unwrap_or("");
            if let Some(f) = &mut self.field {
                f.open_tag(local);
                if empty || is_void(local) {
                    f.close_tag(local);
                    return Ok(());
                }
            }
            self.push(qname, local_at, Role::Inside, Vec::new());
            return Ok(());
        }
        if matches!(parent, Some(Role::Skip)) {
            if !empty {
                self.push(qname, local_at, Role::Skip, Vec::new());
            }
            return Ok(());
        }
        let mut attrs = Attrs::default();
        let mut declared = Vec::new();
        let mut it = e.html_attributes();
        it.with_checks(false);
        for a in it.flatten() {
            let key = a.key.as_ref();
            let slot = match key {
                b"xmlns" => {
                    self.declare("", &attr_value(&a.value), &mut declared);
                    continue;
                }
                k if k.starts_with(b"xmlns:") => {
                    let prefix = String::from_utf8_lossy(k.get(6..).unwrap_or_default());
                    self.declare(&prefix, &attr_value(&a.value), &mut declared);
                    continue;
                }
                b"xml:base" => &mut attrs.base,
                b"type" => &mut attrs.kind,
                b"mode" => &mut attrs.mode,
                b"href" => &mut attrs.href,
                b"rel" => &mut attrs.rel,
                b"rdf:about" => &mut attrs.about,
                k if k.eq_ignore_ascii_case(b"isPermaLink") => &mut attrs.permalink,
                _ => continue,
            };
            *slot = Some(attr_value(&a.value));
        }
        if attrs.base.as_ref().is_some_and(|b| b.len() > MAX_URL_CHARS) {
            attrs.base = None;
        }
        let prefix = qname.get(..local_at.saturating_sub(1)).unwrap_or("");
        let ns = self.resolve_ns(prefix);
        let local = qname.get(local_at..).unwrap_or("").to_string();
        let role = self.role_of(parent, ns, &local, &qname, &attrs, pos)?;
        if empty {
            self.finish(role, &local, declared);
        } else {
            self.push(qname, local_at, role, declared);
        }
        Ok(())
    }

    fn declare(&mut self, prefix: &str, uri: &str, declared: &mut Vec<String>) {
        self.scopes
            .entry(prefix.to_string())
            .or_default()
            .push(ns_from_uri(uri));
        declared.push(prefix.to_string());
    }

    fn push(&mut self, qname: String, local_at: usize, role: Role, declared: Vec<String>) {
        match self.open.get_mut(qname.as_str()) {
            Some(n) => *n += 1,
            None => {
                self.open.insert(qname.clone(), 1);
            }
        }
        self.stack.push(Frame {
            qname,
            local_at,
            role,
            declared,
        });
    }

    /// Decides what a newly opened element is, starting an item or a field when it is one.
    fn role_of(
        &mut self,
        parent: Option<Role>,
        ns: Ns,
        local: &str,
        qname: &str,
        attrs: &Attrs,
        pos: usize,
    ) -> Result<Role, FeedError> {
        let plain = matches!(ns, Ns::None | Ns::Rss1);
        let atomish = matches!(ns, Ns::Atom | Ns::None);
        let format = self.format;
        Ok(match parent {
            None => {
                let f = root_format(local, ns, qname)?;
                self.format = Some(f);
                self.root_base = inherit(None, attrs.base.as_deref());
                Role::Root
            }
            Some(Role::Root) | Some(Role::Channel) => {
                let in_channel = parent == Some(Role::Channel);
                match format {
                    Some(FeedFormat::Atom) if !in_channel && atomish && local == "entry" => {
                        self.start_item(attrs, pos, false)
                    }
                    Some(FeedFormat::Atom) if !in_channel && atomish && local == "link" => {
                        self.feed_links.offer(attrs);
                        Role::Skip
                    }
                    Some(FeedFormat::Atom) => Role::Skip,
                    _ if plain && local == "item" => self.start_item(attrs, pos, in_channel),
                    _ if plain && local == "channel" && !in_channel => {
                        self.channel_base =
                            inherit(self.root_base.as_deref(), attrs.base.as_deref());
                        Role::Channel
                    }
                    _ if plain && local == "link" && in_channel && self.channel_link.is_none() => {
                        self.field = Some(Field::new(Slot::ChannelLink, Mode::Html));
                        Role::Field
                    }
                    _ => Role::Skip,
                }
            }
            Some(Role::Item) | Some(Role::Group) => {
                let (Some(acc), Some(format)) = (&mut self.item, format) else {
                    return Ok(Role::Skip);
                };
                match item::classify(format, parent == Some(Role::Group), ns, local) {
                    Some(item::Kind::Group) => Role::Group,
                    Some(item::Kind::AtomLink) => {
                        acc.links.offer(attrs);
                        Role::Skip
                    }
                    Some(item::Kind::Slot(slot)) if acc.wants(slot) => {
                        let atom_rules =
                            ns == Ns::Atom || (format == FeedFormat::Atom && ns == Ns::None);
                        self.field = Some(Field::for_slot(slot, atom_rules, ns, local, attrs));
                        Role::Field
                    }
                    _ => Role::Skip,
                }
            }
            Some(Role::Field | Role::Inside | Role::Skip) => Role::Skip,
        })
    }

    fn start_item(&mut self, attrs: &Attrs, pos: usize, in_channel: bool) -> Role {
        self.item = Some(ItemAcc::new(
            self.feed.seen(),
            pos,
            in_channel,
            attrs.base.clone(),
            attrs.about.clone(),
        ));
        Role::Item
    }

    /// An end tag: closes back to the innermost open element of that name (an end tag that
    /// matches nothing open is ignored).
    fn close(&mut self, qname: &str) {
        if !self.open.contains_key(qname) {
            return;
        }
        while let Some(frame) = self.stack.pop() {
            if let Some(n) = self.open.get_mut(frame.qname.as_str()) {
                *n -= 1;
                if *n == 0 {
                    self.open.remove(frame.qname.as_str());
                }
            }
            let Frame {
                qname: name,
                local_at,
                role,
                declared,
            } = frame;
            let matched = name == qname;
            self.finish(role, name.get(local_at..).unwrap_or(""), declared);
            if matched || self.done {
                break;
            }
        }
    }

    /// An element's end: what it completes.
    fn finish(&mut self, role: Role, local: &str, declared: Vec<String>) {
        for p in declared {
            if let Some(v) = self.scopes.get_mut(&p) {
                v.pop();
                if v.is_empty() {
                    self.scopes.remove(&p);
                }
            }
        }
        match role {
            Role::Inside => {
                if let Some(f) = &mut self.field {
                    f.close_tag(local);
                }
            }
            Role::Field => {
                if let Some(f) = self.field.take() {
                    self.store_field(f);
                }
            }
            Role::Item => {
                if let Some(acc) = self.item.take() {
                    self.finish_item(acc);
                }
            }
            Role::Root => self.done = true,
            Role::Channel | Role::Group | Role::Skip => {}
        }
    }

    fn store_field(&mut self, f: Field) {
        if f.slot == Slot::ChannelLink {
            let link = f.into_raw();
            let link = link.trim();
            if !link.is_empty() && link.len() <= MAX_URL_CHARS {
                self.channel_link = Some(match self.src_base {
                    Some(s) => resolve(s, link),
                    None => link.to_string(),
                });
            }
            return;
        }
        if let Some(acc) = &mut self.item {
            acc.store(f);
        }
    }

    fn finish_item(&mut self, acc: ItemAcc) {
        let Some(format) = self.format else { return };
        let (parent_base, fallback) = match format {
            FeedFormat::Atom => {
                let feed_base = effective_base(self.root_base.as_deref(), self.src_base);
                let feed_link = self.feed_links.pick().map(|l| match feed_base.as_deref() {
                    Some(b) => resolve(b, &l),
                    None => l,
                });
                (self.root_base.as_deref(), feed_base.or(feed_link))
            }
            _ => {
                let parent = if acc.in_channel {
                    self.channel_base.as_deref()
                } else {
                    self.root_base.as_deref()
                };
                let fallback = self.channel_link.as_deref().or(self.src_base);
                (parent, fallback.map(str::to_string))
            }
        };
        let chain = inherit(parent_base, acc.base.as_deref());
        let base = effective_base(chain.as_deref(), fallback.as_deref());
        let (index, pos) = (acc.index, acc.pos);
        let raw = acc.into_raw(format);
        match finish_item(raw, self.source, &[base.as_deref(), fallback.as_deref()]) {
            Ok(item) => {
                if !self.feed.push_item(item) {
                    self.full = Some(index);
                    self.done = true;
                }
            }
            Err(m) => {
                let line = self.lines.at(pos);
                self.feed.push_error(ItemError {
                    index,
                    message: format!("{m} (line {line})"),
                });
            }
        }
    }

    fn text(&mut self, s: &str) {
        if let Some(f) = &mut self.field {
            f.push_text(s);
        }
    }

    /// An entity or character reference in text.
    fn reference(&mut self, name: &str) {
        let Some(f) = &mut self.field else { return };
        let c = match name {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => name.strip_prefix('#').and_then(|num| {
                let code = match num.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => num.parse::<u32>().ok()?,
                };
                // Windows-1252 quirks (`&#146;` is a quote), as browsers read them.
                Some(numeric_char(code))
            }),
        };
        match c {
            Some(c) => f.push_text(c.encode_utf8(&mut [0; 4])),
            // HTML named references (`&nbsp;`) go through the HTML decoder later.
            None => f.push_raw(&format!("&{name};")),
        }
    }
}
