//! What `file_path` names: one Parquet file, or a folder whose `.parquet`
//! files (in any depth of Hive-style `key=value/` subfolders) form one
//! table. Each file's footer is read; their schemas must agree; row counts
//! and sizes add up; partition folders become columns.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use inlet_infer::ColumnStats;
use inlet_sdk::prelude::*;
use inlet_sdk::text::percent_decode;
use inlet_sdk::{ConnectorError, file_error};

use crate::config::Config;
use crate::footer::{self, Footer};

/// Subfolders deeper than this are not walked.
pub const MAX_FOLDER_DEPTH: usize = 16;
/// Directory entries looked at while listing, at most.
pub const MAX_ENTRIES: usize = 1_000_000;
/// Hive's name for a null partition value.
const HIVE_NULL: &str = "__HIVE_DEFAULT_PARTITION__";

/// One data file and the partition values its folders name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    pub path: PathBuf,
    /// The path under the data source's folder, for messages (the file's name for a single file).
    pub name: String,
    pub partitions: Vec<(String, String)>,
}

/// The files a data source reads.
#[derive(Debug, Clone)]
pub struct Listing {
    pub folder: bool,
    pub files: Vec<DataFile>,
}

fn file_name(path: &Path) -> String {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("the file").to_owned()
}

/// Lists the file, or the folder's `.parquet` files in path order.
pub fn list(config: &Config) -> Result<Listing, ConnectorError> {
    let root = Path::new(&config.target.path);
    let shown = file_name(root);
    let metadata = std::fs::metadata(root).map_err(|error| file_error(&error, &format!("open {shown}")))?;
    if metadata.is_file() {
        let file = DataFile { path: root.to_path_buf(), name: shown, partitions: vec![] };
        return Ok(Listing { folder: false, files: vec![file] });
    }
    if !metadata.is_dir() {
        return Err(ConnectorError::config(format!("{shown} is neither a file nor a folder")));
    }
    let mut files = Vec::new();
    let mut seen = 0usize;
    walk(root, root, 0, config.max_files as usize, &mut seen, &mut files)?;
    if files.is_empty() {
        return Err(ConnectorError::not_found("the folder holds no `.parquet` files"));
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Listing { folder: true, files })
}

fn walk(
    root: &Path,
    dir: &Path,
    depth: usize,
    max_files: usize,
    seen: &mut usize,
    files: &mut Vec<DataFile>,
) -> Result<(), ConnectorError> {
    let relative = |path: &Path| path.strip_prefix(root).unwrap_or(path).to_string_lossy().into_owned();
    let entries = std::fs::read_dir(dir).map_err(|error| file_error(&error, &format!("list {}", relative(dir))))?;
    let mut subfolders = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| file_error(&error, &format!("list {}", relative(dir))))?;
        *seen += 1;
        if *seen > MAX_ENTRIES {
            return Err(ConnectorError::unsupported(format!("the folder holds more than {MAX_ENTRIES} entries")));
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        // Hidden files and writer bookkeeping (`_SUCCESS`, `_common_metadata`, `.crc`).
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let kind = entry.file_type().map_err(|error| file_error(&error, &format!("stat {name}")))?;
        if kind.is_dir() {
            subfolders.push(entry.path());
        } else if kind.is_file() && name.to_ascii_lowercase().ends_with(".parquet") {
            if files.len() >= max_files {
                return Err(ConnectorError::config(format!(
                    "the folder holds more than {max_files} `.parquet` files (`max_files`)"
                )));
            }
            let path = entry.path();
            let partitions = partitions_of(path.strip_prefix(root).unwrap_or(&path));
            files.push(DataFile { name: relative(&path), path, partitions });
        }
    }
    if !subfolders.is_empty() && depth >= MAX_FOLDER_DEPTH {
        return Err(ConnectorError::unsupported(format!(
            "the folder nests subfolders deeper than {MAX_FOLDER_DEPTH} levels"
        )));
    }
    subfolders.sort();
    for sub in subfolders {
        walk(root, &sub, depth + 1, max_files, seen, files)?;
    }
    Ok(())
}

/// `year=2024/month=01/part-0.parquet` → `[(year, 2024), (month, 01)]`.
fn partitions_of(relative: &Path) -> Vec<(String, String)> {
    let mut parts = Vec::new();
    let Some(parent) = relative.parent() else { return parts };
    for component in parent.components() {
        let text = component.as_os_str().to_string_lossy();
        if let Some((key, value)) = text.split_once('=')
            && !key.is_empty()
        {
            parts.push((percent_decode(key), percent_decode(value)));
        }
    }
    parts
}

/// The table the files make.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub columns: Vec<Column>,
    pub files: usize,
    pub folder: bool,
    pub rows: u64,
    pub size: u64,
    pub row_groups: u64,
    pub codecs: BTreeSet<&'static str>,
    pub created_by: BTreeSet<String>,
    pub partition_keys: Vec<String>,
    /// Rows the row groups add up to, where that differs from the footers' count.
    pub row_group_rows: u64,
}

/// Reads every file's footer and merges them into one table.
pub fn read(listing: &Listing) -> Result<Dataset, ConnectorError> {
    let mut dataset: Option<Dataset> = None;
    let mut first_name = String::new();
    let keys: Vec<String> =
        listing.files.first().map(|f| f.partitions.iter().map(|(k, _)| k.clone()).collect()).unwrap_or_default();
    let mut stats: BTreeMap<String, (ColumnStats, BTreeSet<String>)> = BTreeMap::new();
    for file in &listing.files {
        let these: Vec<&String> = file.partitions.iter().map(|(k, _)| k).collect();
        if these.iter().map(|k| k.as_str()).ne(keys.iter().map(String::as_str)) {
            return Err(ConnectorError::protocol(format!(
                "the partition folders disagree: {} is under {}, {} under {}",
                listing.files[0].name,
                describe_keys(&keys),
                file.name,
                describe_keys(&these.iter().map(|k| (*k).clone()).collect::<Vec<_>>())
            )));
        }
        for (key, value) in &file.partitions {
            let (column, values) = stats.entry(key.clone()).or_default();
            if value == HIVE_NULL || value.is_empty() {
                column.observe_null();
            } else {
                column.observe_text(value);
            }
            if values.len() < 10_000 {
                values.insert(value.clone());
            }
        }
        let Footer { meta, size, .. } = footer::read_file(&file.path, &file.name)?;
        let columns = inlet_parquet_meta::columns(&meta)
            .map_err(|error| ConnectorError::new(error.kind, format!("{}: {}", file.name, error.message)))?;
        let rows = u64::try_from(meta.num_rows).unwrap_or(0);
        let group_rows = u64::try_from(meta.row_group_rows).unwrap_or(0);
        match &mut dataset {
            None => {
                first_name = file.name.clone();
                dataset = Some(Dataset {
                    columns,
                    files: 1,
                    folder: listing.folder,
                    rows,
                    size,
                    row_groups: meta.row_groups,
                    codecs: meta.codecs.clone(),
                    created_by: meta.created_by.iter().cloned().collect(),
                    partition_keys: keys.clone(),
                    row_group_rows: group_rows,
                });
            }
            Some(dataset) => {
                merge_columns(&mut dataset.columns, &columns, &first_name, &file.name)?;
                dataset.files += 1;
                dataset.rows = dataset.rows.saturating_add(rows);
                dataset.size = dataset.size.saturating_add(size);
                dataset.row_groups = dataset.row_groups.saturating_add(meta.row_groups);
                dataset.row_group_rows = dataset.row_group_rows.saturating_add(group_rows);
                dataset.codecs.extend(meta.codecs.iter().copied());
                if dataset.created_by.len() < 8
                    && let Some(writer) = meta.created_by
                {
                    dataset.created_by.insert(writer);
                }
            }
        }
    }
    let mut dataset = dataset.ok_or_else(|| ConnectorError::not_found("there is no Parquet file to read"))?;
    for key in &keys {
        if dataset.columns.iter().any(|c| &c.name == key) {
            continue;
        }
        let Some((column, values)) = stats.get(key) else { continue };
        let inferred = column.infer();
        let ordinal = u32::try_from(dataset.columns.len() + 1).unwrap_or(u32::MAX);
        dataset.columns.push(
            ColumnBuilder::new(
                key.clone(),
                ordinal,
                inferred.data_type,
                format!("partition ({})", inferred.native_type),
            )
            .nullable(inferred.nullable)
            .precision_scale(inferred.precision, inferred.scale)
            .max_length(inferred.max_length)
            .comment(Some(format!(
                "Hive partition column from `{key}=…` folders; {} distinct value{}",
                values.len(),
                if values.len() == 1 { "" } else { "s" }
            )))
            .build(),
        );
    }
    Ok(dataset)
}

fn describe_keys(keys: &[String]) -> String {
    if keys.is_empty() { "no `key=value` folders".to_owned() } else { keys.join("/") }
}

/// Checks that `other`'s columns match `columns`; nullability widens.
fn merge_columns(columns: &mut [Column], other: &[Column], first: &str, name: &str) -> Result<(), ConnectorError> {
    let disagree =
        |what: String| ConnectorError::protocol(format!("the files' schemas disagree: {what} (compared with {first})"));
    if columns.len() != other.len() {
        return Err(disagree(format!("{name} has {} columns, not {}", other.len(), columns.len())));
    }
    for (mine, theirs) in columns.iter_mut().zip(other) {
        if mine.name != theirs.name {
            return Err(disagree(format!("{name} has column `{}` where `{}` was expected", theirs.name, mine.name)));
        }
        if (&mine.data_type, &mine.native_type, mine.precision, mine.scale)
            != (&theirs.data_type, &theirs.native_type, theirs.precision, theirs.scale)
        {
            return Err(disagree(format!(
                "in {name} column `{}` is {}, not {}",
                mine.name, theirs.native_type, mine.native_type
            )));
        }
        mine.nullable |= theirs.nullable;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_come_from_key_value_folders() {
        assert_eq!(
            partitions_of(Path::new("year=2024/raw/month=0%2F1/part-0.parquet")),
            [("year".to_owned(), "2024".to_owned()), ("month".to_owned(), "0/1".to_owned())]
        );
        assert!(partitions_of(Path::new("part-0.parquet")).is_empty());
        assert_eq!(percent_decode("a%zz%4"), "a%zz%4");
    }
}
