//! Credentials on each request: Basic, Bearer, or an API key in a header or
//! the query. The secret values live only here and in the requests; `Debug`
//! never prints them and no message names them.

use std::fmt;

use inlet_sdk::http::Request;
use inlet_sdk::{ConnectRequest, ConnectRequestExt, ConnectorError};

use crate::config::{ApiKeyIn, AuthMethod, Config};

/// What is added to every request.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    /// The whole `Authorization` header value (`Basic …` or `Bearer …`).
    Authorization(String),
    Header {
        name: String,
        value: String,
    },
    Query {
        name: String,
        value: String,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("Auth::None"),
            Auth::Authorization(value) => {
                write!(f, "Auth::Authorization({} …)", value.split(' ').next().unwrap_or_default())
            }
            Auth::Header { name, .. } => write!(f, "Auth::Header({name})"),
            Auth::Query { name, .. } => write!(f, "Auth::Query({name})"),
        }
    }
}

impl Auth {
    /// Reads the secret the configured method needs; a missing one is a `config` error.
    pub fn from_request(config: &Config, request: &ConnectRequest) -> Result<Self, ConnectorError> {
        Self::build(config, |name| request.required_secret(name))
    }

    pub fn build<'a>(
        config: &Config,
        secret: impl Fn(&str) -> Result<&'a str, ConnectorError>,
    ) -> Result<Self, ConnectorError> {
        let no_line_breaks = |name: &str, value: &str| {
            if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                Err(ConnectorError::config(format!("the secret `{name}` has a line break")))
            } else {
                Ok(())
            }
        };
        Ok(match config.auth {
            AuthMethod::None => Auth::None,
            AuthMethod::Basic => {
                let username = config
                    .username
                    .as_deref()
                    .ok_or_else(|| ConnectorError::config("`username` is needed for basic authentication"))?;
                let password = secret("password")?;
                Auth::Authorization(format!("Basic {}", base64(format!("{username}:{password}").as_bytes())))
            }
            AuthMethod::Bearer => {
                let token = secret("token")?;
                no_line_breaks("token", token)?;
                Auth::Authorization(format!("Bearer {}", token.trim()))
            }
            AuthMethod::ApiKey => {
                let value = secret("api_key")?;
                let name = config.api_key_name.clone();
                match config.api_key_in {
                    ApiKeyIn::Header => {
                        no_line_breaks("api_key", value)?;
                        Auth::Header { name, value: value.trim().to_owned() }
                    }
                    ApiKeyIn::Query => Auth::Query { name, value: value.to_owned() },
                }
            }
        })
    }

    pub fn apply(&self, request: Request) -> Request {
        match self {
            Auth::None => request,
            Auth::Authorization(value) => request.header("authorization", value.clone()),
            Auth::Header { name, value } => request.header(name.clone(), value.clone()),
            Auth::Query { name, value } => request.query(name, value),
        }
    }

    /// For step notes: the method, never the secret.
    pub fn describe(&self) -> String {
        match self {
            Auth::None => "no authentication".to_owned(),
            Auth::Authorization(value) => {
                format!("{} authentication", value.split(' ').next().unwrap_or_default().to_ascii_lowercase())
            }
            Auth::Header { name, .. } => format!("API key in header {name}"),
            Auth::Query { name, .. } => format!("API key in query parameter {name}"),
        }
    }
}

/// Standard base64 with padding (RFC 4648), for Basic credentials.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_sdk::ErrorKind;
    use inlet_sdk::config::ConnectorConfig;
    use inlet_sdk::http::Url;

    fn config(json: &str) -> Config {
        Config::from_json(json).unwrap()
    }

    fn secrets(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Result<&'static str, ConnectorError> {
        let pairs = pairs.to_vec();
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| *value)
                .ok_or_else(|| ConnectorError::config(format!("the secret `{name}` is not set")))
        }
    }

    fn applied(auth: &Auth) -> Request {
        auth.apply(Request::get(Url::parse("http://h/v1/users?page=1").unwrap()))
    }

    #[test]
    fn base64_matches_rfc_4648() {
        for (text, encoded) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE=")]
        {
            assert_eq!(base64(text.as_bytes()), encoded);
        }
        assert_eq!(base64(b"Aladdin:open sesame"), "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert_eq!(base64(&[0xff, 0xfe]), "//4=");
    }

    #[test]
    fn basic_and_bearer_set_the_authorization_header() {
        let basic = config(r#"{"base_url":"http://h","auth":"basic","username":"Aladdin"}"#);
        let auth = Auth::build(&basic, secrets(&[("password", "open sesame")])).unwrap();
        assert_eq!(
            applied(&auth).headers,
            [("authorization".to_owned(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".to_owned())]
        );
        assert_eq!(auth.describe(), "basic authentication");

        let bearer = config(r#"{"base_url":"http://h","auth":"bearer"}"#);
        let auth = Auth::build(&bearer, secrets(&[("token", " abc.def \n")])).unwrap_err();
        assert_eq!(auth.kind, ErrorKind::Config);
        let auth = Auth::build(&bearer, secrets(&[("token", "abc.def")])).unwrap();
        assert_eq!(applied(&auth).headers, [("authorization".to_owned(), "Bearer abc.def".to_owned())]);
        assert_eq!(format!("{auth:?}"), "Auth::Authorization(Bearer …)");
    }

    #[test]
    fn api_keys_go_in_a_header_or_the_query() {
        let header = config(r#"{"base_url":"http://h","auth":"api_key","api_key_name":"X-Key"}"#);
        let auth = Auth::build(&header, secrets(&[("api_key", "k1")])).unwrap();
        assert_eq!(applied(&auth).headers, [("X-Key".to_owned(), "k1".to_owned())]);
        assert_eq!(auth.describe(), "API key in header X-Key");

        let query = config(r#"{"base_url":"http://h","auth":"api_key","api_key_in":"query"}"#);
        let auth = Auth::build(&query, secrets(&[("api_key", "k 2&x")])).unwrap();
        let request = applied(&auth);
        assert!(request.headers.is_empty());
        assert_eq!(request.url.query(), Some("page=1&api_key=k+2%26x"));
        assert!(!format!("{auth:?}").contains("k 2"));
        assert_eq!(request.target(), "GET /v1/users");
    }

    #[test]
    fn a_missing_secret_is_a_config_error_that_names_it() {
        let bearer = config(r#"{"base_url":"http://h","auth":"bearer"}"#);
        let error = Auth::build(&bearer, secrets(&[])).unwrap_err();
        assert_eq!((error.kind, error.message.as_str()), (ErrorKind::Config, "the secret `token` is not set"));
        let none = config(r#"{"base_url":"http://h"}"#);
        assert_eq!(Auth::build(&none, secrets(&[])).unwrap(), Auth::None);
    }
}
