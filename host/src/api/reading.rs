//! `GET /{id}/preview` and `POST /{id}/query`: parse, check the role (any
//! caller who sees the data source may preview; members and above may
//! query), call the core's reading service, and write the rows in the
//! format `Accept` asks for ([`crate::results`]). JSON is one body of at
//! most [`JSON_BODY_BYTES`] of values; NDJSON, CSV and Arrow stream batch by
//! batch, so memory stays at a batch or two whatever the result's size, and
//! a client that disconnects drops the stream, which cancels the work.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures_util::stream;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::data_sources::visible_row;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::core::reading::{PreviewInput, QueryInput, RowStream};
use crate::model::Parameter;
use crate::results::arrow::ArrowEncoder;
use crate::results::{Format, column_json, text};

/// The most batch bytes a JSON (not streamed) answer collects; past it the
/// answer says `truncated` and the other formats are the way to read more.
pub const JSON_BODY_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PreviewParams {
    /// The schema as discovery named it (empty for sources without schemas).
    #[serde(default)]
    pub schema: String,
    /// The table, view, collection, key pattern, file, sheet or topic
    /// (required; checked after the caller's access, so that a missing one
    /// tells nothing about a data source the caller cannot see).
    #[serde(default)]
    pub table: String,
    /// Comma-separated column names (default: all).
    pub columns: Option<String>,
    /// Rows (1–10000, default 100).
    pub limit: Option<u32>,
}

/// A statement in the source's own language.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryBody {
    pub statement: String,
    /// Positional parameters, bound by the source's protocol: null, a
    /// boolean, a number, a string, or `{"base64": "…"}` for bytes.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub parameters: Vec<Value>,
    /// Rows at most (1–1000000, default 1000).
    pub max_rows: Option<u64>,
    /// Seconds, at most the data source's `query_timeout_s` (its default).
    pub timeout_s: Option<u32>,
}

/// A result in `application/json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultBody {
    /// `name`, `data_type` (portable), `native_type`, `nullable`,
    /// `precision`, `scale`, `time_unit`, `time_zone`.
    #[schema(value_type = Vec<Object>)]
    pub columns: Vec<Value>,
    /// Each row as an array, in column order.
    #[schema(value_type = Vec<Vec<Object>>)]
    pub rows: Vec<Value>,
    pub row_count: u64,
    /// The row limit was reached (more rows may exist) or the answer hit
    /// its byte cap.
    pub truncated: bool,
}

const FORMATS: &str = "Formats by `Accept`: `application/json` (default), `application/x-ndjson` (a `{\"columns\":…}` line, \
then an array per row; a failure mid-stream ends with an `{\"error\":…}` line), `text/csv` (RFC 4180; NULL is an empty field, \
an empty string `\"\"`), `application/vnd.apache.arrow.stream` (Arrow IPC). The streaming formats start before the result \
is complete; a client that disconnects cancels it.";

#[utoipa::path(get, path = "/api/v1/data-sources/{data_source_id}/preview", tag = "data-sources",
    description = FORMATS,
    params(("data_source_id" = String, Path), PreviewParams),
    responses((status = 200, description = "The rows, in the format `Accept` asked for", content((ResultBody = "application/json"), (String = "application/x-ndjson"), (String = "text/csv"), (Vec<u8> = "application/vnd.apache.arrow.stream"))),
              (status = 401, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 406, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody),
              (status = 502, body = super::error::ErrorBody), (status = 503, body = super::error::ErrorBody),
              (status = 504, body = super::error::ErrorBody)))]
pub async fn preview(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<PreviewParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let format = format(&headers)?;
    let row = visible_row(&state, &principal, &id).await?;
    let columns =
        params.columns.map(|list| list.split(',').map(|name| name.trim().to_owned()).collect()).unwrap_or_default();
    let input = PreviewInput { schema: params.schema, object: params.table, columns, limit: params.limit };
    let rows = state.preview(&row, input).await?;
    respond(rows, format).await
}

#[utoipa::path(post, path = "/api/v1/data-sources/{data_source_id}/query", tag = "data-sources",
    description = FORMATS,
    params(("data_source_id" = String, Path)),
    request_body = QueryBody,
    responses((status = 200, description = "The rows, in the format `Accept` asked for", content((ResultBody = "application/json"), (String = "application/x-ndjson"), (String = "text/csv"), (Vec<u8> = "application/vnd.apache.arrow.stream"))),
              (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 406, body = super::error::ErrorBody), (status = 413, body = super::error::ErrorBody),
              (status = 422, description = "Invalid input, a type without `query` (`unsupported`), or the statement's own error (code and `details.kind` the connector's kind)", body = super::error::ErrorBody),
              (status = 502, body = super::error::ErrorBody), (status = 503, body = super::error::ErrorBody),
              (status = 504, body = super::error::ErrorBody)))]
pub async fn query(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<QueryBody>,
) -> ApiResult<Response> {
    let format = format(&headers)?;
    let row = visible_row(&state, &principal, &id).await?;
    let parameters =
        body.parameters.iter().enumerate().map(|(i, value)| parameter(i, value)).collect::<Result<_, _>>()?;
    let input =
        QueryInput { statement: body.statement, parameters, max_rows: body.max_rows, timeout_s: body.timeout_s };
    let rows = state.query(&row, &principal, input).await?;
    respond(rows, format).await
}

fn format(headers: &HeaderMap) -> ApiResult<Format> {
    let accept = headers.get(header::ACCEPT).and_then(|value| value.to_str().ok());
    Format::from_accept(accept).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "not_acceptable",
            "results come as application/json, application/x-ndjson, text/csv or application/vnd.apache.arrow.stream",
        )
    })
}

fn parameter(index: usize, value: &Value) -> ApiResult<Parameter> {
    let invalid = |message: &str| {
        ApiError::unprocessable("validation_failed", format!("/parameters/{index}: {message}")).with_details(
            serde_json::json!({ "fields": [{ "field": format!("/parameters/{index}"), "message": message }] }),
        )
    };
    Ok(match value {
        Value::Null => Parameter::Null,
        Value::Bool(value) => Parameter::Boolean(*value),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => Parameter::Integer(integer),
            None => Parameter::Float(number.as_f64().ok_or_else(|| invalid("is not a number we can bind"))?),
        },
        Value::String(text) => Parameter::Text(text.clone()),
        Value::Object(object) => match (object.get("base64"), object.len()) {
            (Some(Value::String(encoded)), 1) => Parameter::Binary(
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_err(|_| invalid("`base64` is not standard base64"))?,
            ),
            _ => return Err(invalid("an object parameter is `{\"base64\": \"…\"}`")),
        },
        Value::Array(_) => return Err(invalid("arrays cannot be bound; pass a string the source can cast")),
    })
}

async fn respond(rows: RowStream, format: Format) -> ApiResult<Response> {
    let content_type = [(header::CONTENT_TYPE, format.content_type())];
    match format {
        Format::Json => Ok((content_type, axum::Json(collect_json(rows).await?)).into_response()),
        streamed => Ok((content_type, Body::from_stream(stream_body(rows, streamed))).into_response()),
    }
}

async fn collect_json(mut rows: RowStream) -> ApiResult<ResultBody> {
    let columns = rows.columns().to_vec();
    let mut body = ResultBody {
        columns: columns.iter().map(column_json).collect(),
        rows: Vec::new(),
        row_count: 0,
        truncated: false,
    };
    let mut bytes = 0;
    loop {
        if bytes >= JSON_BODY_BYTES {
            body.truncated = true;
            break;
        }
        match rows.next().await {
            Ok(Some(batch)) => {
                bytes += batch.byte_size();
                body.row_count += u64::from(batch.row_count);
                body.rows.extend(text::json_rows(&columns, &batch));
            }
            Ok(None) => {
                body.truncated |= rows.reached_limit();
                break;
            }
            Err(failure) => return Err(crate::core::Error::Source(failure.error).into()),
        }
    }
    rows.finish().await;
    Ok(body)
}

/// Where a streamed answer is.
enum Streaming {
    Head(RowStream),
    Body(RowStream, Option<ArrowEncoder>),
    Done,
}

type Chunk = Result<Bytes, std::io::Error>;

/// The streamed formats: the head (columns), then a chunk per batch.
fn stream_body(rows: RowStream, format: Format) -> impl futures_util::Stream<Item = Chunk> + Send {
    stream::unfold(Streaming::Head(rows), move |state| async move {
        match state {
            Streaming::Head(rows) => {
                let columns = rows.columns();
                let (head, encoder) = match format {
                    Format::Ndjson => (text::ndjson_header(columns), None),
                    Format::Csv => (text::csv_header(columns), None),
                    _ => match ArrowEncoder::new(columns) {
                        Ok((encoder, head)) => (head, Some(encoder)),
                        Err(error) => return Some((Err(io_error(error.to_string())), Streaming::Done)),
                    },
                };
                Some((Ok(Bytes::from(head)), Streaming::Body(rows, encoder)))
            }
            Streaming::Body(mut rows, mut encoder) => match rows.next().await {
                Ok(Some(batch)) => {
                    let chunk = match (&mut encoder, format) {
                        (Some(encoder), _) => encoder.batch(batch).map_err(|error| error.to_string()),
                        (None, Format::Csv) => Ok(text::csv_batch(rows.columns(), &batch)),
                        (None, _) => Ok(text::ndjson_batch(rows.columns(), &batch)),
                    };
                    match chunk {
                        Ok(chunk) => Some((Ok(Bytes::from(chunk)), Streaming::Body(rows, encoder))),
                        // Dropping `rows` cancels the rest.
                        Err(message) => Some((Err(io_error(message)), Streaming::Done)),
                    }
                }
                Ok(None) => {
                    rows.finish().await;
                    let tail = match encoder.map(ArrowEncoder::finish) {
                        Some(Ok(end)) => end,
                        Some(Err(error)) => return Some((Err(io_error(error.to_string())), Streaming::Done)),
                        None => Vec::new(),
                    };
                    Some((Ok(Bytes::from(tail)), Streaming::Done))
                }
                // NDJSON can say why it ended; the others end the response
                // abruptly, which a client sees as an incomplete body.
                Err(failure) if format == Format::Ndjson => {
                    let line = text::ndjson_error(failure.error.kind.as_str(), &failure.error.message);
                    Some((Ok(Bytes::from(line)), Streaming::Done))
                }
                Err(failure) => Some((Err(io_error(failure.error.message)), Streaming::Done)),
            },
            Streaming::Done => None,
        }
    })
}

fn io_error(message: String) -> std::io::Error {
    std::io::Error::other(message)
}
