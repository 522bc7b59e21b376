//! The live checks, with a working config (`--config`): connect, `test`
//! returns named steps, discovery pages terminate and are well-formed, the
//! schema filters hold, paging at page size 1 gives the same catalog, and
//! every call stayed inside the plugin's limits.
//!
//! A call that traps or times out poisons its session; the next check opens
//! a fresh one, so one misbehaviour is reported once, where it happened.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::calls::{Caller, Stop};
use super::catalog::{Bounds, Next, Walk};
use super::report::{Report, Status};
use crate::model::{DiscoverRequest, ErrorKind, PreviewRequest, RowsRequest};
use crate::plugin::{Secrets, SourceType};
use crate::runtime::Session;

/// A catalog this small is walked again one table per page.
const SMALL_CATALOG: usize = 200;

pub struct Live<'c, 'p> {
    pub caller: &'c mut Caller<'p>,
    pub spec: &'c SourceType,
    pub config: &'c Value,
    pub secrets: &'c Secrets,
    pub page_size: u32,
    pub bounds: Bounds,
    session: Option<Session>,
}

impl<'c, 'p> Live<'c, 'p> {
    pub fn new(
        caller: &'c mut Caller<'p>,
        spec: &'c SourceType,
        config: &'c Value,
        secrets: &'c Secrets,
        page_size: u32,
        bounds: Bounds,
    ) -> Self {
        Self { caller, spec, config, secrets, page_size, bounds, session: None }
    }

    fn name(&self, check: &str) -> String {
        format!("{}: {check}", self.spec.id)
    }

    /// Makes sure a usable session is open: the current one, or a fresh
    /// one after a failure poisoned it.
    async fn ensure_session(&mut self) -> Result<(), Stop> {
        if !self.session.as_ref().is_some_and(Session::is_usable) {
            self.session = None;
            let session = self.caller.open(self.spec, self.config, self.secrets).await?;
            self.session = Some(session);
        }
        Ok(())
    }

    pub async fn run(mut self, report: &mut Report) {
        let started = Instant::now();
        let connected = self.caller.open(self.spec, self.config, self.secrets).await;
        let took = started.elapsed();
        match connected {
            Ok(session) => {
                let steps: Vec<String> =
                    session.connect_steps.iter().map(|s| format!("{} {}", s.name, micros(s.duration_us))).collect();
                let detail = if steps.is_empty() { "no steps".to_owned() } else { steps.join(", ") };
                report.pass(self.name("connect"), format!("connected: {detail}"), took);
                self.session = Some(session);
            }
            Err(stop) => {
                report.fail(self.name("connect"), stop.describe(), took);
                // Without a connection nothing else can run; the limits line
                // still says whether the sandbox had to step in.
                for check in ["test", "discover", "preview"] {
                    report.skip(self.name(check), "the connect check failed");
                }
                self.limits(report);
                self.budgets(report);
                return;
            }
        }
        self.test(report).await;
        if let Some(walk) = self.discover(report).await {
            self.filters(report, &walk).await;
            self.paging(report, &walk).await;
            self.preview(report, &walk).await;
        }
        self.limits(report);
        self.budgets(report);
        if let Some(session) = self.session.take()
            && session.is_usable()
        {
            session.close().await;
        }
    }

    async fn test(&mut self, report: &mut Report) {
        let started = Instant::now();
        let outcome = match self.ensure_session().await {
            Ok(()) => self.caller.test(self.session.as_mut().expect("open")).await,
            Err(stop) => Err(stop),
        };
        let took = started.elapsed();
        let name = self.name("test");
        match outcome {
            Err(stop) => report.fail(name, stop.describe(), took),
            Ok(test) if test.steps.is_empty() => {
                report.fail(name, "test returned no steps: time each check with `steps.run(\"name\", …)`", took)
            }
            Ok(test) if test.steps.iter().any(|s| s.name.trim().is_empty()) => {
                report.fail(name, "a step has no name", took)
            }
            Ok(test) => {
                let steps: Vec<String> = test
                    .steps
                    .iter()
                    .map(|s| format!("{}{} {}", s.name, if s.passed { "" } else { " (failed)" }, micros(s.duration_us)))
                    .collect();
                let version = test.server_version.map(|v| format!("server {v}; ")).unwrap_or_default();
                let status = if test.steps.iter().all(|s| s.passed) { Status::Pass } else { Status::Warn };
                report.push(name, status, format!("{version}{} steps: {}", steps.len(), steps.join(", ")), took);
            }
        }
    }

    /// Walks every page with `request`; `Err` when the walk could not finish.
    async fn walk(&mut self, request: DiscoverRequest) -> Result<Walk, (Walk, String)> {
        let mut walk = Walk::new(request, self.bounds);
        loop {
            if let Err(stop) = self.ensure_session().await {
                let at = walk.pages + 1;
                return Err((walk, format!("reconnecting for page {at}: {}", stop.describe())));
            }
            let request = walk.request().clone();
            let session = self.session.as_mut().expect("open");
            let page = match self.caller.discover(session, &request).await {
                Ok(page) => page,
                Err(stop) => {
                    let at = walk.pages + 1;
                    return Err((walk, format!("page {at}: {}", stop.describe())));
                }
            };
            match walk.add(&page) {
                Ok(Next::Done) => return Ok(walk),
                Ok(Next::Page(_)) => {}
                Err(reason) => return Err((walk, reason)),
            }
        }
    }

    async fn discover(&mut self, report: &mut Report) -> Option<Walk> {
        let started = Instant::now();
        let request = DiscoverRequest { page_size: self.page_size, ..DiscoverRequest::default() };
        let outcome = self.walk(request).await;
        let took = started.elapsed();
        let name = self.name("discover");
        match outcome {
            Err((_, reason)) => {
                report.fail(name, reason, took);
                None
            }
            Ok(walk) => {
                match walk.problems() {
                    Some(problems) => report.fail(name, problems, took),
                    None => report.pass(
                        name,
                        format!(
                            "{} in {} over {} of at most {}; largest page {}, {}",
                            plural(walk.tables.len(), "table"),
                            plural(walk.schemas().len(), "schema"),
                            plural(walk.pages as usize, "page"),
                            self.page_size,
                            plural(walk.largest_page_tables, "table"),
                            bytes(walk.largest_page_bytes)
                        ),
                        took,
                    ),
                }
                Some(walk)
            }
        }
    }

    /// A preview of the first discovered table: at most the rows asked
    /// for, the discovered columns, and the same portable types.
    async fn preview(&mut self, report: &mut Report, full: &Walk) {
        const LIMIT: u32 = 5;
        let name = self.name("preview");
        if let Err(stop) = self.ensure_session().await {
            report.fail(name, stop.describe(), Duration::ZERO);
            return;
        }
        let session = self.session.as_mut().expect("open");
        if !session.reads_rows() {
            report.skip(name, "the plugin's WIT version (0.1.x) has no preview; build it against 0.2.0");
            return;
        }
        let Some(super::catalog::SampleTable { schema, name: table, columns: discovered }) = full.sample.clone() else {
            report.skip(name, "no table with columns was discovered");
            return;
        };
        let request = RowsRequest::Preview(PreviewRequest {
            schema: schema.clone(),
            object: table.clone(),
            columns: Vec::new(),
            limit: LIMIT,
        });
        let started = Instant::now();
        let outcome = self.caller.preview(session, &request, LIMIT).await;
        let took = started.elapsed();
        let (columns, rows) = match outcome {
            Ok(read) => read,
            Err(stop) if stop.connector_kind() == Some(ErrorKind::Unsupported) => {
                report.push(name, Status::Warn, format!("`{schema}.{table}`: {}", stop.describe()), took);
                return;
            }
            Err(stop) => {
                report.fail(name, format!("`{schema}.{table}`: {}", stop.describe()), took);
                return;
            }
        };
        let mut problems = Vec::new();
        if rows > u64::from(LIMIT) {
            problems.push(format!("returned more than the {LIMIT} rows asked for"));
        }
        for column in &columns {
            match discovered.iter().find(|(name, _)| *name == column.name) {
                None => problems.push(format!("column `{}` was not discovered", column.name)),
                Some((_, data_type)) if *data_type != column.data_type => problems.push(format!(
                    "column `{}` is {} in the preview but {data_type} in discovery",
                    column.name, column.data_type
                )),
                Some(_) => {}
            }
        }
        if problems.is_empty() {
            report.pass(name, format!("`{schema}.{table}`: {}, {} rows", plural(columns.len(), "column"), rows), took);
        } else {
            report.fail(name, format!("`{schema}.{table}`: {}", problems.join("; ")), took);
        }
    }

    /// Excluding the first schema removes exactly it; including it keeps only it.
    async fn filters(&mut self, report: &mut Report, full: &Walk) {
        let name = self.name("discover filters");
        let Some(first) = full.schemas().into_iter().next().map(str::to_owned) else {
            report.skip(name, "nothing was discovered to filter");
            return;
        };
        let started = Instant::now();
        let expect = |keep: &dyn Fn(&str) -> bool| -> BTreeSet<(String, String)> {
            full.tables.keys().filter(|(schema, _)| keep(schema)).cloned().collect()
        };
        let cases = [
            (
                format!("exclude `{first}`"),
                DiscoverRequest { exclude_schemas: vec![first.clone()], ..DiscoverRequest::default() },
                expect(&|schema| schema != first),
            ),
            (
                format!("include `{first}`"),
                DiscoverRequest { include_schemas: vec![first.clone()], ..DiscoverRequest::default() },
                expect(&|schema| schema == first),
            ),
        ];
        for (label, request, expected) in cases {
            let request = DiscoverRequest { page_size: self.page_size, ..request };
            let seen = match self.walk(request).await {
                Ok(walk) => walk.tables.keys().cloned().collect::<BTreeSet<_>>(),
                Err((_, reason)) => return report.fail(name, format!("{label}: {reason}"), started.elapsed()),
            };
            if seen != expected {
                let message = format!("{label}: {}, expected {}", plural(seen.len(), "table"), expected.len());
                return report.fail(name, message, started.elapsed());
            }
        }
        report.pass(name, format!("exclude and include `{first}` select the right tables"), started.elapsed());
    }

    /// A small catalog, walked one table per page, is the same catalog.
    async fn paging(&mut self, report: &mut Report, full: &Walk) {
        let name = self.name("paging");
        if full.tables.len() < 2 || full.tables.len() > SMALL_CATALOG {
            report.skip(name, format!("walked at page size 1 only for catalogs of 2 to {SMALL_CATALOG} tables"));
            return;
        }
        let started = Instant::now();
        let request = DiscoverRequest { page_size: 1, ..DiscoverRequest::default() };
        match self.walk(request).await {
            Err((_, reason)) => report.fail(name, format!("at page size 1: {reason}"), started.elapsed()),
            Ok(walk) => {
                let same = walk.tables.keys().eq(full.tables.keys());
                match (walk.problems(), same) {
                    (Some(problems), _) => report.fail(name, format!("at page size 1: {problems}"), started.elapsed()),
                    (None, false) => report.fail(
                        name,
                        format!(
                            "at page size 1: {} tables, at page size {}: {}",
                            walk.tables.len(),
                            self.page_size,
                            full.tables.len()
                        ),
                        started.elapsed(),
                    ),
                    (None, true) => report.pass(
                        name,
                        format!("page size 1 gives the same {} tables in {} pages", walk.tables.len(), walk.pages),
                        started.elapsed(),
                    ),
                }
            }
        }
    }

    /// How near the connector came to the bounds on values and logs.
    fn budgets(&mut self, report: &mut Report) {
        if let Some(session) = &self.session {
            self.caller.measure(session);
        }
        let budgets = self.caller.budgets;
        let (status, message) = budgets.judge();
        report.push(self.name("budgets"), status, message, Duration::ZERO);
        report.budgets = Some(budgets);
    }

    fn limits(&mut self, report: &mut Report) {
        let name = self.name("limits");
        let limit = self.caller.memory_limit_bytes();
        if !self.caller.breaches.is_empty() {
            let message = format!("the sandbox had to step in: {}", self.caller.breaches.join("; "));
            report.fail(name, message, Duration::ZERO);
            return;
        }
        let peak = self.caller.peak_memory_bytes;
        let mut message = format!("linear memory {} of {}", bytes(peak), bytes(limit));
        let mut status = Status::Pass;
        if peak > limit / 10 * 8 {
            status = Status::Warn;
            message.push_str(" (over 80%: raise limits.memory_mib or use less)");
        }
        if let Some((call, took, deadline)) = self.caller.slowest {
            message.push_str(&format!("; slowest call {call} {} of a {} deadline", duration(took), duration(deadline)));
            if took > deadline / 2 {
                status = Status::Warn;
                message.push_str(" (over half of it)");
            }
        }
        report.push(name, status, message, Duration::ZERO);
    }
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 { format!("1 {noun}") } else { format!("{count} {noun}s") }
}

fn micros(us: u64) -> String {
    if us >= 1000 { format!("{} ms", us / 1000) } else { format!("{us} µs") }
}

fn duration(d: Duration) -> String {
    if d >= Duration::from_secs(1) { format!("{:.1} s", d.as_secs_f64()) } else { format!("{} ms", d.as_millis()) }
}

pub fn bytes(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}
