//! Which elements of an RSS item or Atom entry feed which field, with feedparser's precedence,
//! and how a captured element's content becomes plain text (HTML, escaped text, base64).
//!
//! Precedence (feedparser's, simplified to "first non-empty wins" within each rank):
//! - title: `title` / `dc:title` (Atom `title`), else `media:title`, else a `media:title` in a
//!   `media:group` or `media:content`;
//! - summary: `description` / `summary` / `dc:description` / `itunes:summary`, else the full
//!   content (`content:encoded`, Atom `content`, `xhtml:body`, `body`, `fullitem`), else
//!   `media:description`, else one in a `media:group`;
//! - link: RSS `link`, else an Atom alternate link, else a permalink `guid`;
//! - dates: `pubDate`, `dc:date`, `atom:published`, `atom:updated`, `dcterms:created` (Atom:
//!   `published`, `updated`, `issued`, `modified`).
//!
//! A slot that is filled is not captured again, so an item holds at most one text per slot.
//! Pure; must not know about the event loop or the document's other items.

use super::field::Field;
use super::{Attrs, Ns};
use crate::feed::{FeedFormat, RawItem, MAX_URL_CHARS};

/// Where a captured element's content goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Title,
    MediaTitle,
    GroupTitle,
    Summary,
    Content,
    MediaDesc,
    GroupDesc,
    Link,
    Guid,
    /// The n-th date element of the format's list (`date_names`).
    Date(usize),
    /// The RSS channel's `<link>` (the base of relative item links).
    ChannelLink,
}

/// What an item's child element is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Slot(Slot),
    /// An Atom `<link>`: read from its attributes.
    AtomLink,
    /// `media:group` / `media:content`: its titles and descriptions count.
    Group,
}

/// Date elements in order of preference, as named in error messages.
fn date_names(format: FeedFormat) -> &'static [&'static str] {
    match format {
        FeedFormat::Atom => &["published", "updated", "issued", "modified"],
        _ => &[
            "pubDate",
            "dc:date",
            "atom:published",
            "atom:updated",
            "dcterms:created",
        ],
    }
}

const DATES: usize = 5;

/// The kind of an item's (or, with `in_group`, a media group's) child element.
pub(crate) fn classify(format: FeedFormat, in_group: bool, ns: Ns, local: &str) -> Option<Kind> {
    use Kind::Slot as S;
    if in_group {
        return match (ns, local) {
            (Ns::Media, "title") => Some(S(Slot::GroupTitle)),
            (Ns::Media, "description") => Some(S(Slot::GroupDesc)),
            _ => None,
        };
    }
    let atom_doc = format == FeedFormat::Atom;
    // In Atom documents unprefixed elements are Atom's when the namespace was forgotten; in
    // RSS they are RSS's (RSS 1.0 has its own namespace).
    let own = if atom_doc {
        matches!(ns, Ns::Atom | Ns::None)
    } else {
        matches!(ns, Ns::None | Ns::Rss1)
    };
    let kind = match (ns, local) {
        (Ns::Dc, "title") => S(Slot::Title),
        (Ns::Media, "title") => S(Slot::MediaTitle),
        (Ns::Dc, "description") | (Ns::Itunes, "summary") => S(Slot::Summary),
        (Ns::Content, "encoded") | (Ns::Xhtml, "body") => S(Slot::Content),
        (Ns::Media, "description") => S(Slot::MediaDesc),
        (Ns::Media, "group" | "content") => Kind::Group,
        (Ns::Dc, "date") if !atom_doc => S(Slot::Date(1)),
        (Ns::Dc, "created") if !atom_doc => S(Slot::Date(4)),
        (Ns::Atom, "link") => Kind::AtomLink,
        (_, "title") if own || ns == Ns::Atom => S(Slot::Title),
        (_, "summary") if own || ns == Ns::Atom => S(Slot::Summary),
        (_, "content") if own || ns == Ns::Atom => S(Slot::Content),
        (_, "link") if atom_doc && own => Kind::AtomLink,
        (_, "id") if atom_doc && own => S(Slot::Guid),
        (_, "published") if atom_doc && own => S(Slot::Date(0)),
        (_, "updated") if atom_doc && own => S(Slot::Date(1)),
        (_, "issued") if atom_doc && own => S(Slot::Date(2)),
        (_, "modified") if atom_doc && own => S(Slot::Date(3)),
        (Ns::Atom, "published") => S(Slot::Date(2)),
        (Ns::Atom, "updated") => S(Slot::Date(3)),
        (_, "description") if own => S(Slot::Summary),
        (_, "body") if ns == Ns::None => S(Slot::Content),
        (_, "fullitem") if own => S(Slot::Content),
        (_, "link") if own && !atom_doc => S(Slot::Link),
        (_, "guid") if own && !atom_doc => S(Slot::Guid),
        (_, "pubDate") if own && !atom_doc => S(Slot::Date(0)),
        _ => return None,
    };
    Some(kind)
}

/// The alternate link among Atom `<link>` elements, chosen as they come: `rel="alternate"`
/// (or no rel) preferring an HTML type, else the first link that is not
/// self/edit/replies/hub/enclosure.
#[derive(Debug, Default)]
pub(crate) struct LinkPick {
    alt_html: Option<String>,
    alt: Option<String>,
    other: Option<String>,
}

impl LinkPick {
    pub fn offer(&mut self, attrs: &Attrs) {
        let Some(href) = attrs
            .href
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty() && h.len() <= MAX_URL_CHARS)
        else {
            return;
        };
        let rel = attrs.rel.as_deref().unwrap_or("alternate").trim();
        let slot = if rel.eq_ignore_ascii_case("alternate") {
            if attrs.kind.as_deref().is_none_or(|t| t.contains("html")) {
                &mut self.alt_html
            } else {
                &mut self.alt
            }
        } else if ["self", "edit", "replies", "hub", "enclosure"]
            .iter()
            .any(|r| rel.eq_ignore_ascii_case(r))
        {
            return;
        } else {
            &mut self.other
        };
        if slot.is_none() {
            *slot = Some(href.to_string());
        }
    }

    pub fn pick(&self) -> Option<String> {
        self.alt_html
            .clone()
            .or_else(|| self.alt.clone())
            .or_else(|| self.other.clone())
    }
}

/// One item being read.
#[derive(Debug)]
pub(crate) struct ItemAcc {
    pub index: usize,
    /// Byte offset of its start tag, for the line in errors.
    pub pos: usize,
    pub in_channel: bool,
    /// Its own `xml:base`.
    pub base: Option<String>,
    about: Option<String>,
    title: Option<String>,
    media_title: Option<String>,
    group_title: Option<String>,
    summary: Option<String>,
    content: Option<String>,
    media_desc: Option<String>,
    group_desc: Option<String>,
    link: Option<String>,
    guid: Option<(String, bool)>,
    dates: [Option<String>; DATES],
    pub links: LinkPick,
}

impl ItemAcc {
    pub fn new(
        index: usize,
        pos: usize,
        in_channel: bool,
        base: Option<String>,
        about: Option<String>,
    ) -> ItemAcc {
        ItemAcc {
            index,
            pos,
            in_channel,
            base,
            about,
            title: None,
            media_title: None,
            group_title: None,
            summary: None,
            content: None,
            media_desc: None,
            group_desc: None,
            link: None,
            guid: None,
            dates: Default::default(),
            links: LinkPick::default(),
        }
    }

    fn text_slot(&mut self, slot: Slot) -> Option<&mut Option<String>> {
        Some(match slot {
            Slot::Title => &mut self.title,
            Slot::MediaTitle => &mut self.media_title,
            Slot::GroupTitle => &mut self.group_title,
            Slot::Summary => &mut self.summary,
            Slot::Content => &mut self.content,
            Slot::MediaDesc => &mut self.media_desc,
            Slot::GroupDesc => &mut self.group_desc,
            Slot::Link => &mut self.link,
            Slot::Date(i) => self.dates.get_mut(i)?,
            Slot::Guid | Slot::ChannelLink => return None,
        })
    }

    /// True when an element for `slot` is still worth capturing.
    pub fn wants(&mut self, slot: Slot) -> bool {
        match slot {
            Slot::Guid => self.guid.is_none(),
            Slot::ChannelLink => false,
            s => self.text_slot(s).is_some_and(|v| v.is_none()),
        }
    }

    /// Keeps a captured element's content when it is the first non-empty one of its slot.
    pub fn store(&mut self, f: Field) {
        match f.slot {
            Slot::Guid => {
                let permalink = !f.not_permalink;
                let g = f.into_raw().trim().to_string();
                if !g.is_empty() && self.guid.is_none() {
                    self.guid = Some((g, permalink));
                }
            }
            Slot::Link | Slot::Date(_) => {
                let slot = f.slot;
                let v = f.into_raw().trim().to_string();
                if let Some(s) = self
                    .text_slot(slot)
                    .filter(|s| s.is_none() && !v.is_empty())
                {
                    *s = Some(v);
                }
            }
            Slot::ChannelLink => {}
            slot => {
                let v = f.into_plain();
                if let Some(s) = self
                    .text_slot(slot)
                    .filter(|s| s.is_none() && !v.is_empty())
                {
                    *s = Some(v);
                }
            }
        }
    }

    pub fn into_raw(self, format: FeedFormat) -> RawItem {
        let names = date_names(format);
        let date = self
            .dates
            .into_iter()
            .zip(names)
            .find_map(|(d, name)| d.map(|d| (d, *name)));
        let (guid, permalink) = match self.guid {
            Some((g, p)) => (Some(g.clone()), p.then_some(g)),
            None => (None, None),
        };
        let permalink = permalink.filter(|g| g.starts_with("http://") || g.starts_with("https://"));
        let link = match format {
            FeedFormat::Atom => self.links.pick(),
            _ => self.link.or_else(|| self.links.pick()).or(permalink),
        };
        RawItem {
            guid: guid.or(self.about),
            title: self.title.or(self.media_title).or(self.group_title),
            link,
            summary: self
                .summary
                .or(self.content)
                .or(self.media_desc)
                .or(self.group_desc),
            date,
            tickers: Vec::new(),
        }
    }
}
