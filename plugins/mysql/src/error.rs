//! Server errors (ERR packets) and the error kind each one means to the platform.

use inlet_sdk::ConnectorError;

use crate::packet::{Cursor, ParseError};

/// An ERR packet's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    pub code: u16,
    /// The SQLSTATE, when the server sent one (protocol 4.1, after the greeting).
    pub sql_state: Option<String>,
    pub message: String,
}

/// Parses an ERR packet (first byte 0xFF).
pub fn parse_err(payload: &[u8]) -> Result<ServerError, ParseError> {
    let mut c = Cursor::new(payload);
    if c.u8("error packet")? != 0xFF {
        return Err(ParseError::Malformed("error packet"));
    }
    let code = c.u16("error code")?;
    let sql_state = if c.peek() == Some(b'#') {
        c.skip(1, "SQL state marker")?;
        Some(String::from_utf8_lossy(c.bytes(5, "SQL state")?).into_owned())
    } else {
        None
    };
    let message = String::from_utf8_lossy(c.rest()).into_owned();
    Ok(ServerError { code, sql_state, message })
}

impl ServerError {
    /// The error as the platform should act on it.
    pub fn into_connector_error(self) -> ConnectorError {
        let text = match &self.sql_state {
            Some(state) => format!("{} [MySQL error {}, SQLSTATE {state}]", self.message, self.code),
            None => format!("{} [MySQL error {}]", self.message, self.code),
        };
        error_for_code(self.code, text)
    }
}

/// The kind the platform should act on for a server error code (the codes
/// are shared by MySQL and MariaDB up to 1800; the later ones named here are
/// MySQL's or MariaDB's own).
pub fn error_for_code(code: u16, text: String) -> ConnectorError {
    match code {
        // ER_ACCESS_DENIED_ERROR (wrong user or password), ER_HOST_NOT_PRIVILEGED
        // (no account for this client host), ER_PASSWORD_NO_MATCH,
        // ER_MUST_CHANGE_PASSWORD(_LOGIN) (expired password),
        // ER_ACCOUNT_HAS_BEEN_LOCKED (MySQL 3118, MariaDB 4151), ER_ACCESS_DENIED_NO_PASSWORD_ERROR
        1045 | 1130 | 1133 | 1820 | 1862 | 3118 | 4151 | 1698 => ConnectorError::auth(text),
        // ER_DBACCESS_DENIED_ERROR (no rights on the database), ER_TABLEACCESS_DENIED_ERROR,
        // ER_COLUMNACCESS_DENIED_ERROR, ER_SPECIFIC_ACCESS_DENIED_ERROR, ER_PROCACCESS_DENIED_ERROR
        1044 | 1142 | 1143 | 1227 | 1370 => ConnectorError::permission(text),
        // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION: a query tried to write
        1792 => ConnectorError::permission(text),
        // ER_BAD_DB_ERROR (the configured database does not exist),
        // ER_NO_SUCH_TABLE, ER_BAD_FIELD_ERROR (unknown column)
        1049 | 1146 | 1054 => ConnectorError::not_found(text),
        // ER_PARSE_ERROR: the user's statement does not parse
        1064 => ConnectorError::config(text),
        // ER_CON_COUNT_ERROR, ER_TOO_MANY_USER_CONNECTIONS, ER_USER_LIMIT_REACHED,
        // ER_SERVER_SHUTDOWN, ER_SERVER_OFFLINE_MODE (MySQL)
        1040 | 1203 | 1226 | 1053 | 3032 => ConnectorError::unreachable(text),
        // ER_HOST_IS_BLOCKED: needs `FLUSH HOSTS` by an admin; retrying will not help
        1129 => ConnectorError::unreachable(text).retryable(false),
        // ER_QUERY_INTERRUPTED, ER_QUERY_TIMEOUT (MySQL max_execution_time),
        // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time), ER_LOCK_WAIT_TIMEOUT
        1317 | 3024 | 1969 | 1205 => ConnectorError::timeout(text),
        // ER_SECURE_TRANSPORT_REQUIRED (MySQL require_secure_transport): turn TLS on
        3159 => ConnectorError::config(format!("{text} (set ssl_mode to preferred or stricter)")),
        // ER_NOT_SUPPORTED_AUTH_MODE: the account's plugin is one the client did not offer
        1251 => ConnectorError::unsupported(text),
        _ => ConnectorError::protocol(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_sdk::ErrorKind;

    #[test]
    fn parses_err_packets_with_and_without_sql_state() {
        let mut payload = vec![0xFF, 0x15, 0x04];
        payload.extend_from_slice(b"#28000Access denied for user 'bob'@'localhost' (using password: YES)");
        let error = parse_err(&payload).unwrap();
        assert_eq!(error.code, 1045);
        assert_eq!(error.sql_state.as_deref(), Some("28000"));
        assert!(error.message.starts_with("Access denied"));
        // Before the greeting the server sends no SQL state.
        let mut early = vec![0xFF, 0x10, 0x04];
        early.extend_from_slice(b"Too many connections");
        let error = parse_err(&early).unwrap();
        assert_eq!((error.code, error.sql_state.as_deref()), (1040, None));
        assert_eq!(error.into_connector_error().kind, ErrorKind::Unreachable);
    }

    #[test]
    fn malformed_err_packets_fail_cleanly() {
        assert!(parse_err(&[0xFF, 0x15]).is_err());
        assert!(parse_err(&[0xFF, 0x15, 0x04, b'#', b'2']).is_err());
        assert!(parse_err(&[0x00]).is_err());
        assert!(parse_err(&[]).is_err());
    }

    #[test]
    fn codes_map_to_kinds() {
        let kind = |code| error_for_code(code, String::new());
        assert_eq!(kind(1045).kind, ErrorKind::Auth);
        assert_eq!(kind(1130).kind, ErrorKind::Auth);
        assert_eq!(kind(1044).kind, ErrorKind::Permission);
        assert_eq!(kind(1142).kind, ErrorKind::Permission);
        assert_eq!(kind(1049).kind, ErrorKind::NotFound);
        assert_eq!(kind(1040).kind, ErrorKind::Unreachable);
        assert!(kind(1040).retryable);
        assert!(!kind(1129).retryable);
        assert_eq!(kind(1969).kind, ErrorKind::Timeout);
        assert_eq!(kind(3024).kind, ErrorKind::Timeout);
        assert_eq!(kind(3159).kind, ErrorKind::Config);
        assert_eq!(kind(1064).kind, ErrorKind::Config);
        assert_eq!(kind(1792).kind, ErrorKind::Permission);
        assert_eq!(kind(1146).kind, ErrorKind::NotFound);
        assert_eq!(kind(1054).kind, ErrorKind::NotFound);
        assert_eq!(kind(1105).kind, ErrorKind::Protocol);
        assert!(!kind(1045).retryable);
    }

    #[test]
    fn the_message_names_code_and_state() {
        let error = ServerError { code: 1049, sql_state: Some("42000".into()), message: "Unknown database 'x'".into() };
        let error = error.into_connector_error();
        assert_eq!(error.message, "Unknown database 'x' [MySQL error 1049, SQLSTATE 42000]");
    }
}
