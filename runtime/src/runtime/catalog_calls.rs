//! The calls and conversions every WIT version shares (connect, test,
//! discover and the catalog types), written once. Each version module
//! expands [`catalog_calls!`] beside its own `bindgen!` output: the
//! generated types have the same names and fields in every version so far,
//! so the same text compiles against each (macro items resolve `wit`,
//! `Plugin` and `model` where they are expanded). A version that changes one
//! of these types writes its own conversion instead.

macro_rules! catalog_calls {
    () => {
        fn log_level(level: LogLevel) -> tracing::Level {
            match level {
                LogLevel::Trace => tracing::Level::TRACE,
                LogLevel::Debug => tracing::Level::DEBUG,
                LogLevel::Info => tracing::Level::INFO,
                LogLevel::Warn => tracing::Level::WARN,
                LogLevel::Error => tracing::Level::ERROR,
            }
        }

        /// Opens a connection: the connection resource and the connect steps.
        pub(super) async fn connect(
            bindings: &Plugin,
            store: &mut Store<StoreState>,
            request: &model::ConnectRequest,
            tally: &Tally,
        ) -> Answer<Connected> {
            let request = connect_request(request);
            let returned = bindings.inlet_connector_connector().call_connect(store, &request).await?;
            Ok(returned
                .map(|connected| Connected { connection: connected.connection, steps: steps(connected.steps, tally) })
                .map_err(|f| failure(f, tally)))
        }

        /// Runs the connector's checks on `connection`.
        pub(super) async fn test(
            bindings: &Plugin,
            store: &mut Store<StoreState>,
            connection: ResourceAny,
            tally: &Tally,
        ) -> Answer<model::TestReport> {
            let returned = bindings.inlet_connector_connector().connection().call_test(store, connection).await?;
            Ok(returned.map(|report| test_report(report, tally)).map_err(|f| failure(f, tally)))
        }

        /// Reads one page of the catalog; a page over a cap is the connector's
        /// protocol error.
        pub(super) async fn discover(
            bindings: &Plugin,
            store: &mut Store<StoreState>,
            connection: ResourceAny,
            request: &model::DiscoverRequest,
            tally: &Tally,
        ) -> Answer<model::DiscoverPage> {
            let wit_request = discover_request(request);
            let returned = bindings
                .inlet_connector_connector()
                .connection()
                .call_discover(store, connection, &wit_request)
                .await?;
            Ok(match returned {
                Ok(page) => discover_page(page, request.page_size, tally)
                    .map_err(|error| model::Failure::new(model::ErrorKind::Protocol, error.to_string(), false)),
                Err(error) => Err(model::Failure { error: self::error(error, tally), steps: Vec::new() }),
            })
        }

        fn connect_request(request: &model::ConnectRequest) -> wit::ConnectRequest {
            wit::ConnectRequest {
                source_type: request.source_type.clone(),
                config: request.config.clone(),
                secrets: request.secrets.clone(),
                endpoint: request.endpoint.as_ref().map(|e| wit::Endpoint { host: e.host.clone(), port: e.port }),
                connect_timeout_ms: millis(request.connect_timeout),
                query_timeout_ms: millis(request.query_timeout),
            }
        }

        /// A duration in whole milliseconds, saturating at the WIT type's maximum.
        fn millis(duration: std::time::Duration) -> u32 {
            u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
        }

        fn discover_request(request: &model::DiscoverRequest) -> wit::DiscoverRequest {
            wit::DiscoverRequest {
                include_schemas: request.include_schemas.clone(),
                exclude_schemas: request.exclude_schemas.clone(),
                page_token: request.page_token.clone(),
                page_size: request.page_size,
            }
        }

        fn error_kind(kind: wit::ErrorKind) -> model::ErrorKind {
            match kind {
                wit::ErrorKind::Config => model::ErrorKind::Config,
                wit::ErrorKind::Auth => model::ErrorKind::Auth,
                wit::ErrorKind::Unreachable => model::ErrorKind::Unreachable,
                wit::ErrorKind::Timeout => model::ErrorKind::Timeout,
                wit::ErrorKind::Permission => model::ErrorKind::Permission,
                wit::ErrorKind::NotFound => model::ErrorKind::NotFound,
                wit::ErrorKind::Unsupported => model::ErrorKind::Unsupported,
                wit::ErrorKind::Protocol => model::ErrorKind::Protocol,
                wit::ErrorKind::Internal => model::ErrorKind::Internal,
            }
        }

        // Every conversion from the guest below cuts strings and lists to the sizes
        // in `bounds::limits`, so nothing unbounded reaches storage, logs, events or
        // responses.

        fn error(error: wit::ConnectorError, tally: &Tally) -> model::ConnectorError {
            model::ConnectorError {
                kind: error_kind(error.kind),
                message: bound(error.message, limits::ERROR_MESSAGE, tally),
                retryable: error.retryable,
            }
        }

        fn failure(failure: wit::Failure, tally: &Tally) -> model::Failure {
            model::Failure { error: error(failure.error, tally), steps: steps(failure.steps, tally) }
        }

        /// At most [`limits::STEPS`] steps: the first ones, a step saying how many
        /// were dropped, and the last one (the one that failed, in a failure).
        fn steps(mut all: Vec<wit::CheckStep>, tally: &Tally) -> Vec<model::CheckStep> {
            if all.len() > limits::STEPS {
                tally.note_truncated();
                let last = all.pop();
                let dropped: Vec<wit::CheckStep> = all.drain(limits::STEPS - 2..).collect();
                all.push(wit::CheckStep {
                    name: format!("… [{} steps dropped]", dropped.len()),
                    passed: dropped.iter().all(|step| step.passed),
                    duration_us: dropped.iter().map(|step| step.duration_us).fold(0, u64::saturating_add),
                    message: None,
                });
                all.extend(last);
            }
            all.into_iter().map(|s| step(s, tally)).collect()
        }

        fn step(step: wit::CheckStep, tally: &Tally) -> model::CheckStep {
            model::CheckStep {
                name: bound(step.name, limits::STEP_NAME, tally),
                passed: step.passed,
                duration_us: step.duration_us,
                message: bound_opt(step.message, limits::STEP_MESSAGE, tally),
            }
        }

        fn test_report(report: wit::TestReport, tally: &Tally) -> model::TestReport {
            model::TestReport {
                server_version: bound_opt(report.server_version, limits::SERVER_VERSION, tally),
                steps: steps(report.steps, tally),
            }
        }

        /// A catalog page, refused over its byte, row or token cap, else bounded.
        fn discover_page(
            page: wit::DiscoverPage,
            page_size: u32,
            tally: &Tally,
        ) -> Result<model::DiscoverPage, PageError> {
            let bytes = page_bytes(&page);
            tally.note_page(bytes);
            let tables = page.schemas.iter().map(|schema| schema.tables.len()).sum();
            bounds::check_page(tables, page_size, bytes, page.next_page_token.as_deref())?;
            Ok(model::DiscoverPage {
                schemas: page.schemas.into_iter().map(|s| schema(s, tally)).collect(),
                next_page_token: page.next_page_token,
            })
        }

        /// A page's size as [`limits::PAGE_BYTES`] counts it.
        fn page_bytes(page: &wit::DiscoverPage) -> usize {
            let mut meter = PageMeter::default();
            meter.record(page.next_page_token.as_deref());
            for schema in &page.schemas {
                meter.record([schema.name.as_str()]);
                for table in &schema.tables {
                    meter.record([table.name.as_str()].into_iter().chain(table.comment.as_deref()));
                    for column in &table.columns {
                        let strings = [column.name.as_str(), column.data_type.as_str(), column.native_type.as_str()];
                        meter.record(
                            strings.into_iter().chain(column.default_value.as_deref()).chain(column.comment.as_deref()),
                        );
                    }
                    for constraint in &table.constraints {
                        let names = constraint.columns.iter().chain(&constraint.referenced_columns).map(String::as_str);
                        let optional =
                            [&constraint.referenced_schema, &constraint.referenced_table, &constraint.definition];
                        meter.record(
                            std::iter::once(constraint.name.as_str())
                                .chain(names)
                                .chain(optional.into_iter().filter_map(|text| text.as_deref())),
                        );
                    }
                }
            }
            meter.bytes
        }

        fn schema(schema: wit::Schema, tally: &Tally) -> model::Schema {
            model::Schema {
                name: bound(schema.name, limits::NAME, tally),
                tables: schema.tables.into_iter().map(|t| table(t, tally)).collect(),
            }
        }

        fn table(table: wit::Table, tally: &Tally) -> model::Table {
            model::Table {
                name: bound(table.name, limits::NAME, tally),
                kind: match table.kind {
                    wit::ObjectKind::Table => model::ObjectKind::Table,
                    wit::ObjectKind::View => model::ObjectKind::View,
                    wit::ObjectKind::MaterializedView => model::ObjectKind::MaterializedView,
                    wit::ObjectKind::ExternalTable => model::ObjectKind::ExternalTable,
                    wit::ObjectKind::Collection => model::ObjectKind::Collection,
                    wit::ObjectKind::Index => model::ObjectKind::Index,
                    wit::ObjectKind::KeySpace => model::ObjectKind::KeySpace,
                    wit::ObjectKind::File => model::ObjectKind::File,
                    wit::ObjectKind::Topic => model::ObjectKind::Topic,
                },
                columns: table.columns.into_iter().map(|c| column(c, tally)).collect(),
                constraints: table.constraints.into_iter().map(|c| constraint(c, tally)).collect(),
                comment: bound_opt(table.comment, limits::TEXT, tally),
                row_estimate: table.row_estimate,
                size_bytes: table.size_bytes,
            }
        }

        fn column(column: wit::Column, tally: &Tally) -> model::Column {
            model::Column {
                name: bound(column.name, limits::NAME, tally),
                ordinal: column.ordinal,
                data_type: bound(column.data_type, limits::TYPE_NAME, tally),
                native_type: bound(column.native_type, limits::TYPE_NAME, tally),
                nullable: column.nullable,
                default_value: bound_opt(column.default_value, limits::TEXT, tally),
                max_length: column.max_length,
                precision: column.precision,
                scale: column.scale,
                comment: bound_opt(column.comment, limits::TEXT, tally),
            }
        }

        fn constraint(constraint: wit::Constraint, tally: &Tally) -> model::Constraint {
            let names = |names: Vec<String>| -> Vec<String> {
                names.into_iter().map(|name| bound(name, limits::NAME, tally)).collect()
            };
            model::Constraint {
                name: bound(constraint.name, limits::NAME, tally),
                kind: match constraint.kind {
                    wit::ConstraintKind::PrimaryKey => model::ConstraintKind::PrimaryKey,
                    wit::ConstraintKind::Unique => model::ConstraintKind::Unique,
                    wit::ConstraintKind::ForeignKey => model::ConstraintKind::ForeignKey,
                    wit::ConstraintKind::Check => model::ConstraintKind::Check,
                },
                columns: names(constraint.columns),
                referenced_schema: bound_opt(constraint.referenced_schema, limits::NAME, tally),
                referenced_table: bound_opt(constraint.referenced_table, limits::NAME, tally),
                referenced_columns: names(constraint.referenced_columns),
                definition: bound_opt(constraint.definition, limits::TEXT, tally),
            }
        }
    };
}

pub(super) use catalog_calls;
