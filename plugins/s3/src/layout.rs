//! Keys under the prefix grouped into tables. A table is a folder (relative
//! to the prefix) that holds data files; Hive-style `key=value/` folders
//! below it belong to it and become partition columns, as in the Parquet
//! connector's folders. The files directly under the prefix are one table
//! (the prefix's folder, named after it) when they are parts of one dataset
//! (names that differ only in their digits: `part-00000.parquet`,
//! `part-00001.parquet`, or `key=value/` folders right under the prefix);
//! otherwise each is a table of its own (`orders.csv`, `customers.csv`).
//! Hidden files and writer bookkeeping (names starting with `.` or `_`:
//! `_SUCCESS`, `_delta_log/`, `.crc`) and folder markers are left out.

use std::collections::BTreeMap;

use inlet_sdk::text::percent_decode;

use crate::api::Object;

/// The formats whose schema this connector reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Parquet,
    Csv { gzip: bool, delimiter: u8 },
    Json { gzip: bool },
    Unknown,
}

impl Format {
    /// The format a key's name says (its extensions), e.g. `a.csv.gz`.
    pub fn of(key: &str) -> Format {
        let name = key.rsplit('/').next().unwrap_or(key).to_ascii_lowercase();
        let (stem, gzip) = match name.strip_suffix(".gz").or_else(|| name.strip_suffix(".gzip")) {
            Some(stem) => (stem, true),
            None => (name.as_str(), false),
        };
        let extension = stem.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        match extension {
            "parquet" | "pq" | "parq" if !gzip => Format::Parquet,
            "csv" => Format::Csv { gzip, delimiter: b',' },
            "tsv" | "tab" => Format::Csv { gzip, delimiter: b'\t' },
            "json" | "jsonl" | "ndjson" => Format::Json { gzip },
            _ => Format::Unknown,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Parquet => "Parquet",
            Format::Csv { gzip: false, delimiter: b'\t' } => "TSV",
            Format::Csv { gzip: true, delimiter: b'\t' } => "gzipped TSV",
            Format::Csv { gzip: false, .. } => "CSV",
            Format::Csv { gzip: true, .. } => "gzipped CSV",
            Format::Json { gzip: false } => "JSON",
            Format::Json { gzip: true } => "gzipped JSON",
            Format::Unknown => "unknown format",
        }
    }
}

/// One data file of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    pub key: String,
    pub size: u64,
    /// `(key, value)` of the `key=value` folders between the table's folder and the file.
    pub partitions: Vec<(String, String)>,
    pub format: Format,
}

/// A table: a folder and its files, or one file at the prefix's top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFiles {
    /// The folder relative to the prefix (`sales`, `logs/app`), or the
    /// file's name without extensions for a top-level file.
    pub name: String,
    /// Whether it is a folder (else one file).
    pub folder: bool,
    pub files: Vec<DataFile>,
    /// The partition keys in the order of the folders.
    pub partition_keys: Vec<String>,
    /// Whether the files disagree on their partition folders.
    pub mixed_partitions: bool,
}

impl TableFiles {
    pub fn size(&self) -> u64 {
        self.files.iter().fold(0u64, |sum, f| sum.saturating_add(f.size))
    }

    /// Files per format, most common first (then by format).
    pub fn formats(&self) -> Vec<(Format, usize)> {
        let mut counts: BTreeMap<Format, usize> = BTreeMap::new();
        for file in &self.files {
            *counts.entry(file.format).or_default() += 1;
        }
        let mut counts: Vec<_> = counts.into_iter().collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        counts
    }

    /// The format the table is read as: the most common known one.
    pub fn format(&self) -> Format {
        self.formats().into_iter().map(|(f, _)| f).find(|f| *f != Format::Unknown).unwrap_or(Format::Unknown)
    }

    /// The file the schema is read from: the first (in key order) of the
    /// table's format that is not empty.
    pub fn sample(&self) -> Option<&DataFile> {
        let format = self.format();
        self.files.iter().find(|f| f.format == format && f.size > 0)
    }
}

fn partition(component: &str) -> Option<(String, String)> {
    let (key, value) = component.split_once('=')?;
    (!key.is_empty()).then(|| (percent_decode(key), percent_decode(value)))
}

fn hidden(component: &str) -> bool {
    component.starts_with('.') || component.starts_with('_')
}

/// The name of a top-level file's table: without its extensions.
fn stem(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let mut end = name.len();
    for suffix in [".gz", ".gzip"] {
        if lower.ends_with(suffix) {
            end -= suffix.len();
            break;
        }
    }
    let base = &name[..end];
    match base.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem.to_owned(),
        _ => base.to_owned(),
    }
}

/// A name with its digit runs replaced by `#`: `part-00001.csv` → `part-#.csv`.
fn digit_pattern(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_digit() {
            if !out.ends_with('#') {
                out.push('#');
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn add(tables: &mut BTreeMap<(String, bool), TableFiles>, name: String, folder: bool, file: DataFile) {
    let table = tables.entry((name.clone(), folder)).or_insert_with(|| TableFiles {
        name,
        folder,
        files: Vec::new(),
        partition_keys: Vec::new(),
        mixed_partitions: false,
    });
    let keys: Vec<&String> = file.partitions.iter().map(|(k, _)| k).collect();
    if table.files.is_empty() {
        table.partition_keys = keys.iter().map(|k| (*k).clone()).collect();
    } else if keys.iter().map(|k| k.as_str()).ne(table.partition_keys.iter().map(String::as_str)) {
        table.mixed_partitions = true;
        for key in keys {
            if !table.partition_keys.contains(key) {
                table.partition_keys.push(key.clone());
            }
        }
    }
    table.files.push(file);
}

/// Groups the objects under `prefix` (a folder prefix: empty or ending in
/// `/`) into tables, ordered by name. `root` names the prefix's own table
/// (the prefix's last folder, or the bucket without a prefix).
pub fn group(prefix: &str, root: &str, objects: &[Object]) -> Vec<TableFiles> {
    let mut tables: BTreeMap<(String, bool), TableFiles> = BTreeMap::new();
    // Files right under the prefix, without partition folders.
    let mut top: Vec<DataFile> = Vec::new();
    for object in objects {
        let Some(relative) = object.key.strip_prefix(prefix) else { continue };
        // Folder markers (`dir/`), empty names, hidden and bookkeeping paths.
        if relative.is_empty() || relative.ends_with('/') {
            continue;
        }
        let components: Vec<&str> = relative.split('/').collect();
        if components.iter().any(|c| c.is_empty() || hidden(c)) {
            continue;
        }
        let (file_name, folders) = components.split_last().unwrap_or((&"", &[]));
        let table_depth = folders.iter().position(|c| partition(c).is_some()).unwrap_or(folders.len());
        let partitions: Vec<(String, String)> = folders[table_depth..].iter().filter_map(|c| partition(c)).collect();
        let file = DataFile { key: object.key.clone(), size: object.size, partitions, format: Format::of(file_name) };
        if table_depth > 0 {
            add(&mut tables, folders[..table_depth].join("/"), true, file);
        } else if !file.partitions.is_empty() {
            add(&mut tables, root.to_owned(), true, file);
        } else {
            top.push(file);
        }
    }
    let parts_of_one = top.len() > 1 && {
        let name_of = |f: &DataFile| digit_pattern(f.key.rsplit('/').next().unwrap_or(&f.key));
        let first = top.first().map(name_of);
        top.iter().all(|f| Some(name_of(f)) == first)
    };
    let root_is_a_table = tables.contains_key(&(root.to_owned(), true));
    for file in top {
        if parts_of_one || root_is_a_table {
            add(&mut tables, root.to_owned(), true, file);
        } else {
            let name = stem(file.key.rsplit('/').next().unwrap_or(&file.key));
            add(&mut tables, name, false, file);
        }
    }
    let mut tables: Vec<TableFiles> = tables.into_values().collect();
    // A folder table and a top-level file may share a name: the file then keeps its extension.
    let folder_names: std::collections::BTreeSet<String> =
        tables.iter().filter(|t| t.folder).map(|t| t.name.clone()).collect();
    for table in &mut tables {
        if !table.folder
            && folder_names.contains(&table.name)
            && let Some(file) = table.files.first()
        {
            table.name = file.key.strip_prefix(prefix).unwrap_or(&file.key).to_owned();
        }
    }
    tables.sort_by(|a, b| a.name.cmp(&b.name).then(a.folder.cmp(&b.folder)));
    tables
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(keys: &[(&str, u64)]) -> Vec<Object> {
        keys.iter().map(|(key, size)| Object { key: (*key).to_owned(), size: *size, last_modified: None }).collect()
    }

    fn summary(tables: &[TableFiles]) -> Vec<(String, bool, usize, Vec<String>)> {
        tables.iter().map(|t| (t.name.clone(), t.folder, t.files.len(), t.partition_keys.clone())).collect()
    }

    #[test]
    fn folders_partitions_and_top_level_files_make_tables() {
        let tables = group(
            "lake/",
            "lake",
            &objects(&[
                ("lake/", 0),
                ("lake/sales/", 0),
                ("lake/sales/year=2024/month=1/part-0.parquet", 100),
                ("lake/sales/year=2024/month=2/part-0.parquet", 110),
                ("lake/sales/year=2025/month=1/raw/part-0.parquet", 120),
                ("lake/sales/_SUCCESS", 0),
                ("lake/sales/year=2024/.part-0.parquet.crc", 8),
                ("lake/events/2024/app.ndjson", 50),
                ("lake/events/2024/app2.ndjson", 60),
                ("lake/customers.csv", 30),
                ("lake/notes.txt.gz", 5),
                ("lake/_delta_log/0000.json", 5),
                ("elsewhere/x.csv", 1),
            ]),
        );
        assert_eq!(
            summary(&tables),
            [
                ("customers".to_owned(), false, 1, vec![]),
                ("events/2024".to_owned(), true, 2, vec![]),
                ("notes".to_owned(), false, 1, vec![]),
                ("sales".to_owned(), true, 3, vec!["year".to_owned(), "month".to_owned()]),
            ]
        );
        let sales = &tables[3];
        assert_eq!(sales.size(), 330);
        assert_eq!(sales.format(), Format::Parquet);
        assert_eq!(sales.sample().unwrap().key, "lake/sales/year=2024/month=1/part-0.parquet");
        assert_eq!(sales.files[2].partitions, [("year".into(), "2025".into()), ("month".into(), "1".into())]);
        assert!(!sales.mixed_partitions);
        assert_eq!(tables[2].format(), Format::Unknown);
        assert_eq!(tables[0].format(), Format::Csv { gzip: false, delimiter: b',' });
    }

    #[test]
    fn partitions_right_under_the_prefix_and_disagreeing_folders() {
        let tables = group(
            "sales/",
            "sales",
            &objects(&[
                ("sales/year=2024/a.parquet", 1),
                ("sales/year=2025/region=eu/b.parquet", 1),
                ("sales/year=%32%30/c.parquet", 1),
            ]),
        );
        assert_eq!(summary(&tables), [("sales".to_owned(), true, 3, vec!["year".to_owned(), "region".to_owned()])]);
        assert!(tables[0].mixed_partitions);
        assert_eq!(tables[0].files[2].partitions, [("year".into(), "20".into())]);
        // No prefix at all: the table is named after the bucket.
        let tables = group("", "bkt", &objects(&[("k=v/a.csv", 1)]));
        assert_eq!(tables[0].name, "bkt");
    }

    #[test]
    fn a_file_and_a_folder_of_the_same_name_stay_apart() {
        let tables = group("", "bkt", &objects(&[("orders.csv", 1), ("orders/a.csv", 1), ("orders/b.csv", 0)]));
        assert_eq!(
            summary(&tables),
            [("orders".to_owned(), true, 2, vec![]), ("orders.csv".to_owned(), false, 1, vec![])]
        );
        // The empty file is not the sample.
        assert_eq!(tables[0].sample().unwrap().key, "orders/a.csv");
    }

    #[test]
    fn parts_of_one_dataset_right_under_the_prefix_are_one_table() {
        let parts = objects(&[("d/part-00000.parquet", 1), ("d/part-00001.parquet", 2), ("d/part-00002.parquet", 3)]);
        let tables = group("d/", "d", &parts);
        assert_eq!(summary(&tables), [("d".to_owned(), true, 3, vec![])]);
        assert_eq!(tables[0].size(), 6);
        // Different names: a table each.
        let tables = group("d/", "d", &objects(&[("d/orders.csv", 1), ("d/customers.csv", 1)]));
        assert_eq!(
            summary(&tables),
            [("customers".to_owned(), false, 1, vec![]), ("orders".to_owned(), false, 1, vec![])]
        );
        // Beside partition folders right under the prefix, loose files join that table.
        let tables = group("d/", "d", &objects(&[("d/x=1/a.csv", 1), ("d/extra.csv", 1)]));
        assert_eq!(summary(&tables), [("d".to_owned(), true, 2, vec!["x".to_owned()])]);
        assert!(tables[0].mixed_partitions);
        assert_eq!(digit_pattern("part-0001-of-0003.csv"), "part-#-of-#.csv");
    }

    #[test]
    fn formats_come_from_extensions_and_the_majority_wins() {
        let cases = [
            ("a.parquet", Format::Parquet),
            ("A.PQ", Format::Parquet),
            ("a.csv.gz", Format::Csv { gzip: true, delimiter: b',' }),
            ("a.tsv", Format::Csv { gzip: false, delimiter: b'\t' }),
            ("a.jsonl", Format::Json { gzip: false }),
            ("a.ndjson.gz", Format::Json { gzip: true }),
            ("a.parquet.gz", Format::Unknown),
            ("README", Format::Unknown),
            ("x.avro", Format::Unknown),
        ];
        for (key, format) in cases {
            assert_eq!(Format::of(key), format, "{key}");
        }
        let tables = group(
            "",
            "bkt",
            &objects(&[
                ("t/a.json", 1),
                ("t/b.csv", 1),
                ("t/c.csv", 1),
                ("t/d.bin", 1),
                ("t/e.bin", 1),
                ("t/f.bin", 1),
            ]),
        );
        assert_eq!(tables[0].format(), Format::Csv { gzip: false, delimiter: b',' });
        assert_eq!(tables[0].formats()[0], (Format::Unknown, 3));
        assert_eq!(stem("a.b.csv.gz"), "a.b");
        assert_eq!(stem(".x"), ".x");
    }
}
