//! A small, bounded XML reader for S3's answers (`ListBucketResult`,
//! `Error`): elements with their local names, text with the predefined
//! and numeric entities decoded, CDATA; attributes, comments and the
//! prolog skipped. A DOCTYPE is refused (no entity expansion), nesting and
//! element counts are bounded, and every malformed input is an error, never
//! a panic.

use std::fmt;

/// Elements nested deeper than this are refused.
pub const MAX_DEPTH: usize = 32;
/// More elements than this in one document are refused.
pub const MAX_ELEMENTS: usize = 1_000_000;

/// One element: its local name (any `prefix:` dropped), its text (the
/// concatenated character data directly inside it) and its child elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child called `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first child called `name`, trimmed.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// Every child called `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Why a document did not parse, with the byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError {
    pub offset: usize,
    pub what: String,
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.offset)
    }
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
    elements: usize,
}

type Result<T> = std::result::Result<T, XmlError>;

/// Parses a whole document into its root element.
pub fn parse(bytes: &[u8]) -> Result<Element> {
    let text = std::str::from_utf8(bytes)
        .map_err(|error| XmlError { offset: error.valid_up_to(), what: "the document is not UTF-8".to_owned() })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parser = Parser { text, at: 0, elements: 0 };
    parser.misc()?;
    if !parser.rest().starts_with('<') {
        return Err(parser.error("no root element"));
    }
    let root = parser.element(0)?;
    parser.misc()?;
    if parser.at < parser.text.len() {
        return Err(parser.error("content after the root element"));
    }
    Ok(root)
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn error(&self, what: &str) -> XmlError {
        XmlError { offset: self.at, what: what.to_owned() }
    }

    fn skip_whitespace(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start_matches([' ', '\t', '\r', '\n']).len();
    }

    /// Skips to just after `end`, or fails naming `what`.
    fn skip_past(&mut self, end: &str, what: &str) -> Result<&'a str> {
        let rest = self.rest();
        let Some(found) = rest.find(end) else { return Err(self.error(&format!("unterminated {what}"))) };
        self.at += found + end.len();
        Ok(&rest[..found])
    }

    /// Whitespace, comments and processing instructions between elements.
    fn misc(&mut self) -> Result<()> {
        loop {
            self.skip_whitespace();
            let rest = self.rest();
            if rest.starts_with("<?") {
                self.skip_past("?>", "processing instruction")?;
            } else if rest.starts_with("<!--") {
                self.skip_past("-->", "comment")?;
            } else if rest.starts_with("<!") {
                return Err(self.error("DOCTYPE and declarations are not accepted"));
            } else {
                return Ok(());
            }
        }
    }

    fn name(&mut self) -> Result<&'a str> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '>' | '/' | '=' | '<' | '"' | '\''))
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(self.error("a name was expected"));
        }
        self.at += len;
        Ok(&rest[..len])
    }

    /// An element starting at `<`; returns after its end tag.
    fn element(&mut self, depth: usize) -> Result<Element> {
        if depth >= MAX_DEPTH {
            return Err(self.error(&format!("elements nest deeper than {MAX_DEPTH}")));
        }
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return Err(self.error(&format!("more than {MAX_ELEMENTS} elements")));
        }
        self.at += 1; // '<'
        let qualified = self.name()?;
        let name = local(qualified).to_owned();
        // Attributes: name = "value" pairs, skipped.
        loop {
            self.skip_whitespace();
            let rest = self.rest();
            if rest.starts_with("/>") {
                self.at += 2;
                return Ok(Element { name, ..Element::default() });
            }
            if rest.starts_with('>') {
                self.at += 1;
                break;
            }
            if rest.is_empty() {
                return Err(self.error("unterminated start tag"));
            }
            self.name()?;
            self.skip_whitespace();
            if !self.rest().starts_with('=') {
                return Err(self.error("an attribute without a value"));
            }
            self.at += 1;
            self.skip_whitespace();
            let quote = match self.rest().chars().next() {
                Some(q @ ('"' | '\'')) => q,
                _ => return Err(self.error("an unquoted attribute value")),
            };
            self.at += 1;
            let value = self.skip_past(if quote == '"' { "\"" } else { "'" }, "attribute value")?;
            if value.contains('<') {
                return Err(self.error("`<` in an attribute value"));
            }
        }
        let mut element = Element { name, ..Element::default() };
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                return Err(self.error(&format!("`{qualified}` is not closed")));
            }
            if rest.starts_with("</") {
                self.at += 2;
                let closing = self.name()?;
                if closing != qualified {
                    return Err(self.error(&format!("`{qualified}` is closed by `{closing}`")));
                }
                self.skip_whitespace();
                if !self.rest().starts_with('>') {
                    return Err(self.error("unterminated end tag"));
                }
                self.at += 1;
                return Ok(element);
            }
            if rest.starts_with("<!--") {
                self.skip_past("-->", "comment")?;
            } else if rest.starts_with("<![CDATA[") {
                self.at += 9;
                let data = self.skip_past("]]>", "CDATA section")?;
                element.text.push_str(data);
            } else if rest.starts_with("<?") {
                self.skip_past("?>", "processing instruction")?;
            } else if rest.starts_with("<!") {
                return Err(self.error("declarations are not accepted inside elements"));
            } else if rest.starts_with('<') {
                let child = self.element(depth + 1)?;
                element.children.push(child);
            } else {
                let len = rest.find('<').unwrap_or(rest.len());
                let start = self.at;
                decode_text(&rest[..len], &mut element.text).map_err(|what| XmlError { offset: start, what })?;
                self.at += len;
            }
        }
    }
}

fn local(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, local)| local)
}

/// Character data with `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;` and
/// `&#…;` references decoded.
fn decode_text(raw: &str, out: &mut String) -> std::result::Result<(), String> {
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let end = after.find(';').filter(|&end| end <= 12).ok_or("an unterminated entity reference")?;
        let entity = &after[..end];
        let decoded = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x").or_else(|| entity.strip_prefix("#X")) {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(decimal) = entity.strip_prefix('#') {
                    decimal.parse::<u32>().ok()
                } else {
                    return Err(format!("the unknown entity `&{entity};`"));
                };
                code.and_then(char::from_u32).ok_or_else(|| format!("the invalid character reference `&{entity};`"))?
            }
        };
        out.push(decoded);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_parses_with_namespaces_entities_and_cdata() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name>
  <IsTruncated>false</IsTruncated>
  <Contents><Key>a &amp; b &lt;c&gt; &#233;&#x41;</Key><Size>10</Size></Contents>
  <Contents><Key><![CDATA[x<y]]></Key><s3:Size xmlns:s3="u">0</s3:Size><Empty/></Contents>
</ListBucketResult>"#;
        let root = parse(xml).unwrap();
        assert_eq!(root.name, "ListBucketResult");
        assert_eq!(root.child_text("Name"), Some("bucket"));
        let contents: Vec<_> = root.all("Contents").collect();
        assert_eq!(contents.len(), 2);
        assert_eq!(contents[0].child_text("Key"), Some("a & b <c> éA"));
        assert_eq!(contents[1].child_text("Key"), Some("x<y"));
        assert_eq!(contents[1].child_text("Size"), Some("0"));
        assert_eq!(contents[1].child_text("Empty"), Some(""));
        assert_eq!(contents[1].child_text("Missing"), None);
    }

    #[test]
    fn malformed_documents_are_errors() {
        let cases: &[&[u8]] = &[
            b"",
            b"   ",
            b"text",
            b"<a>",
            b"<a></b>",
            b"<a><b></a></b>",
            b"<a x=1></a>",
            b"<a x></a>",
            b"<a x=\"1></a>",
            b"<a>&bogus;</a>",
            b"<a>&#xFFFFFFFF;</a>",
            b"<a>&amp</a>",
            b"<a></a><b></b>",
            b"<a></a>trailing",
            b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
            b"<a><![CDATA[open</a>",
            b"<a><!-- open</a>",
            b"\xff\xfe<a/>",
            b"<",
            b"<a",
            b"</a>",
        ];
        for case in cases {
            assert!(parse(case).is_err(), "{}", String::from_utf8_lossy(case));
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(parse(deep.as_bytes()).unwrap_err().what.contains("deeper"));
    }

    #[test]
    fn mutated_documents_never_panic() {
        let seed = br#"<?xml version="1.0"?><ListBucketResult><Contents><Key>a%3Db/c.csv</Key><Size>12</Size></Contents><IsTruncated>true</IsTruncated><NextContinuationToken>t&amp;1</NextContinuationToken></ListBucketResult>"#;
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut input = seed.to_vec();
            for _ in 0..1 + next() % 4 {
                let at = (next() % input.len() as u64) as usize;
                match next() % 3 {
                    0 => input[at] = next() as u8,
                    1 => {
                        input.remove(at);
                    }
                    _ => input.insert(at, b"<>&;/\"'!?["[(next() % 10) as usize]),
                }
            }
            let _ = parse(&input);
        }
    }
}
