//! `storage://<id>`: how a data source's config names a stored file, parsed
//! strictly and in this one place. The id is a file id as the API answers
//! it (a UUID); anything else after the scheme (a trailing slash, a path,
//! a query, spaces) is refused rather than trimmed, so that every reader
//! (create, update, connect, download, the "file in use" check) agrees on
//! which file a config names.

use thiserror::Error;

/// How a data source's config names a stored file.
pub const SCHEME: &str = "storage://";

/// A stored file reference: the id of one stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRef {
    id: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("`{0}` is not a stored file reference: use storage://<file id>")]
pub struct StorageRefError(String);

impl StorageRef {
    /// `Ok(None)` for a value that is not a storage reference at all (a
    /// path), `Ok(Some)` for `storage://<id>` exactly, an error for anything
    /// else that starts with the scheme.
    pub fn parse(value: &str) -> Result<Option<Self>, StorageRefError> {
        let Some(rest) = value.strip_prefix(SCHEME) else { return Ok(None) };
        if is_file_id(rest) { Ok(Some(Self { id: rest.to_owned() })) } else { Err(StorageRefError(value.to_owned())) }
    }

    pub fn new(id: &str) -> Option<Self> {
        is_file_id(id).then(|| Self { id: id.to_owned() })
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

impl std::fmt::Display for StorageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{SCHEME}{}", self.id)
    }
}

/// A file id as `db::new_id` makes them: a hyphenated UUID.
fn is_file_id(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0192f0c4-7b1a-7cde-8f00-0123456789ab";

    #[test]
    fn only_the_exact_form_names_a_file() {
        let parsed = StorageRef::parse(&format!("storage://{ID}")).unwrap().unwrap();
        assert_eq!(parsed.id(), ID);
        assert_eq!(parsed.to_string(), format!("storage://{ID}"));
        for bad in [
            format!("storage://{ID}/"),
            format!("storage://{ID}//"),
            format!("storage://{ID}/x.csv"),
            format!("storage://{ID} "),
            format!("storage:// {ID}"),
            format!("storage://{ID}?x=1"),
            format!("storage://../{ID}"),
            "storage://".to_owned(),
            "storage://abc".to_owned(),
        ] {
            assert!(StorageRef::parse(&bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn paths_are_not_references() {
        assert_eq!(StorageRef::parse("/tmp/a.csv"), Ok(None));
        assert_eq!(StorageRef::parse("relative/storage://x"), Ok(None));
        assert!(StorageRef::new(ID).is_some() && StorageRef::new("x").is_none());
    }
}
