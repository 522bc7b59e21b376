//! The connection phase's packets: the server's greeting (Initial Handshake
//! v10), capability negotiation, SSLRequest and HandshakeResponse41.

use inlet_sdk::ConnectorError;

use crate::packet::{Cursor, ParseError, put_lenenc_bytes, put_lenenc_int};

/// Capability flags (the client's and the server's share one bit space).
pub mod caps {
    pub const LONG_PASSWORD: u32 = 1;
    pub const FOUND_ROWS: u32 = 1 << 1;
    pub const LONG_FLAG: u32 = 1 << 2;
    pub const CONNECT_WITH_DB: u32 = 1 << 3;
    pub const LOCAL_FILES: u32 = 1 << 7;
    pub const PROTOCOL_41: u32 = 1 << 9;
    pub const SSL: u32 = 1 << 11;
    pub const TRANSACTIONS: u32 = 1 << 13;
    pub const SECURE_CONNECTION: u32 = 1 << 15;
    pub const MULTI_RESULTS: u32 = 1 << 17;
    pub const PLUGIN_AUTH: u32 = 1 << 19;
    pub const CONNECT_ATTRS: u32 = 1 << 20;
    pub const PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 1 << 21;
    pub const DEPRECATE_EOF: u32 = 1 << 24;
}

/// utf8mb4_general_ci: known to MySQL since 5.5.3 and to every MariaDB; the
/// server takes it as the connection's character set and collation.
pub const UTF8MB4_GENERAL_CI: u8 = 45;

/// What the client tells the server is the largest packet it accepts.
const CLIENT_MAX_PACKET: u32 = crate::packet::MAX_PACKET_BYTES as u32;

/// The server's greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// As sent; MariaDB 10+ prefixes "5.5.5-" for old replication clients.
    pub server_version: String,
    pub connection_id: u32,
    pub capabilities: u32,
    /// The scramble (nonce) for the auth plugins, normally 20 bytes.
    pub nonce: Vec<u8>,
    /// The plugin the server expects first (`None` on servers without PLUGIN_AUTH).
    pub auth_plugin: Option<String>,
}

impl Handshake {
    /// The version without MariaDB's replication prefix.
    pub fn version(&self) -> &str {
        self.server_version.strip_prefix("5.5.5-").unwrap_or(&self.server_version)
    }

    pub fn is_mariadb(&self) -> bool {
        self.server_version.to_ascii_lowercase().contains("mariadb")
    }
}

/// Parses the greeting. A server that refuses the client outright (too many
/// connections, host not allowed) sends an ERR packet instead, which the
/// caller handles before calling this.
pub fn parse_handshake(payload: &[u8]) -> Result<Handshake, ConnectorError> {
    let mut c = Cursor::new(payload);
    let protocol = c.u8("protocol version")?;
    if protocol != 10 {
        return Err(ConnectorError::unsupported(format!(
            "the server speaks handshake protocol {protocol}; this connector speaks 10 (MySQL 3.21.0 and later)"
        )));
    }
    let server_version = String::from_utf8_lossy(c.nul_terminated("server version")?).into_owned();
    let connection_id = c.u32("connection id")?;
    let mut nonce = c.bytes(8, "auth plugin data")?.to_vec();
    c.skip(1, "filler")?;
    let mut capabilities = u32::from(c.u16("capability flags")?);
    let mut auth_plugin = None;
    if !c.is_empty() {
        c.skip(1, "character set")?;
        c.skip(2, "status flags")?;
        capabilities |= u32::from(c.u16("capability flags")?) << 16;
        let data_length = c.u8("auth plugin data length")?;
        // Ten reserved bytes (MariaDB keeps its own capability bits in the last four).
        c.skip(10, "reserved bytes")?;
        if capabilities & caps::SECURE_CONNECTION != 0 {
            // The rest of the scramble: max(13, length - 8) bytes, the last a NUL.
            let length = usize::from(data_length).saturating_sub(8).max(13);
            let part = c.bytes(length.min(c.remaining()), "auth plugin data")?;
            let part = part.strip_suffix(&[0]).unwrap_or(part);
            nonce.extend_from_slice(part);
        }
        if capabilities & caps::PLUGIN_AUTH != 0 {
            // Some servers (MySQL 5.5.7-) forget the terminating NUL.
            let rest = c.rest();
            let name = rest.split(|b| *b == 0).next().unwrap_or(rest);
            auth_plugin = Some(String::from_utf8_lossy(name).into_owned()).filter(|n| !n.is_empty());
        }
    }
    Ok(Handshake { server_version, connection_id, capabilities, nonce, auth_plugin })
}

/// The capabilities the client asks for, given what the server offers.
/// Protocol 4.1 and secure (20-byte scramble) authentication are required:
/// every server since MySQL 4.1 offers them.
pub fn client_capabilities(server: u32, with_database: bool, tls: bool) -> Result<u32, ConnectorError> {
    for (flag, name) in [(caps::PROTOCOL_41, "PROTOCOL_41"), (caps::SECURE_CONNECTION, "SECURE_CONNECTION")] {
        if server & flag == 0 {
            return Err(ConnectorError::unsupported(format!(
                "the server does not offer {name} (a server older than MySQL 4.1?)"
            )));
        }
    }
    let mut wanted = caps::LONG_PASSWORD
        | caps::LONG_FLAG
        | caps::PROTOCOL_41
        | caps::TRANSACTIONS
        | caps::SECURE_CONNECTION
        | caps::MULTI_RESULTS
        | caps::PLUGIN_AUTH
        | caps::PLUGIN_AUTH_LENENC_CLIENT_DATA
        | caps::CONNECT_ATTRS
        | caps::DEPRECATE_EOF;
    if with_database {
        wanted |= caps::CONNECT_WITH_DB;
    }
    if tls {
        wanted |= caps::SSL;
    }
    // Never LOCAL_FILES: a hostile server could ask to read files otherwise.
    Ok(wanted & server & !caps::LOCAL_FILES)
}

/// The SSLRequest: the first 32 bytes of a HandshakeResponse41, after which
/// both sides start the TLS handshake.
pub fn ssl_request(capabilities: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(&capabilities.to_le_bytes());
    out.extend_from_slice(&CLIENT_MAX_PACKET.to_le_bytes());
    out.push(UTF8MB4_GENERAL_CI);
    out.extend_from_slice(&[0; 23]);
    out
}

/// The client's answer to the greeting.
pub struct HandshakeResponse<'a> {
    pub capabilities: u32,
    pub username: &'a str,
    pub auth_response: &'a [u8],
    pub database: Option<&'a str>,
    pub auth_plugin: &'a str,
}

pub fn handshake_response(response: &HandshakeResponse<'_>) -> Result<Vec<u8>, ConnectorError> {
    let caps = response.capabilities;
    let mut out = ssl_request(caps);
    put_nul_terminated(&mut out, response.username, "username")?;
    if caps & caps::PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
        put_lenenc_bytes(&mut out, response.auth_response);
    } else {
        let length = u8::try_from(response.auth_response.len())
            .map_err(|_| ConnectorError::internal("the auth response is longer than 255 bytes"))?;
        out.push(length);
        out.extend_from_slice(response.auth_response);
    }
    if caps & caps::CONNECT_WITH_DB != 0 {
        put_nul_terminated(&mut out, response.database.unwrap_or(""), "database")?;
    }
    if caps & caps::PLUGIN_AUTH != 0 {
        put_nul_terminated(&mut out, response.auth_plugin, "auth plugin")?;
    }
    if caps & caps::CONNECT_ATTRS != 0 {
        // Shown in performance_schema.session_connect_attrs: who is connecting.
        let mut attrs = Vec::new();
        for (key, value) in [("_client_name", "inlet"), ("program_name", "inlet")] {
            put_lenenc_bytes(&mut attrs, key.as_bytes());
            put_lenenc_bytes(&mut attrs, value.as_bytes());
        }
        put_lenenc_int(&mut out, attrs.len() as u64);
        out.extend_from_slice(&attrs);
    }
    Ok(out)
}

fn put_nul_terminated(out: &mut Vec<u8>, value: &str, what: &str) -> Result<(), ConnectorError> {
    if value.contains('\0') {
        return Err(ConnectorError::config(format!("the {what} contains a NUL character")));
    }
    out.extend_from_slice(value.as_bytes());
    out.push(0);
    Ok(())
}

/// The AuthSwitchRequest's body (after its 0xFE): the plugin to use next and
/// its data (a fresh scramble for the SHA-based plugins).
pub fn parse_auth_switch(payload: &[u8]) -> Result<(String, Vec<u8>), ParseError> {
    let mut c = Cursor::new(payload);
    c.skip(1, "auth switch request")?;
    let plugin = String::from_utf8_lossy(c.nul_terminated("auth plugin name")?).into_owned();
    let data = c.rest();
    // The scramble is sent NUL-terminated; the NUL is not part of it.
    let data = data.strip_suffix(&[0]).unwrap_or(data);
    Ok((plugin, data.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The greeting of the MariaDB 10.11 on 127.0.0.1:3306, as captured
    /// (payload only, without the 4-byte packet header).
    const MARIADB_GREETING: &str = "0a352e352e352d31302e31312e31392d4d6172696144422d302b64656231327531000b000000\
        574a4b7a4528387e00fef72d0200ff81150000000000001d000000362e266f7e4d444d37692f49006d7973716c5f6e61\
        746976655f70617373776f726400";

    fn mariadb_greeting() -> Vec<u8> {
        let hex: String = MARIADB_GREETING.split_whitespace().collect();
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn parses_a_mariadb_greeting() {
        let handshake = parse_handshake(&mariadb_greeting()).unwrap();
        assert_eq!(handshake.server_version, "5.5.5-10.11.19-MariaDB-0+deb12u1");
        assert_eq!(handshake.version(), "10.11.19-MariaDB-0+deb12u1");
        assert!(handshake.is_mariadb());
        assert_eq!(handshake.connection_id, 11);
        assert_eq!(handshake.nonce, b"WJKzE(8~6.&o~MDM7i/I");
        assert_eq!(handshake.auth_plugin.as_deref(), Some("mysql_native_password"));
        assert_ne!(handshake.capabilities & caps::PLUGIN_AUTH, 0);
        assert_ne!(handshake.capabilities & caps::PROTOCOL_41, 0);
    }

    #[test]
    fn tolerates_a_plugin_name_without_its_nul() {
        let mut greeting = mariadb_greeting();
        greeting.pop();
        assert_eq!(parse_handshake(&greeting).unwrap().auth_plugin.as_deref(), Some("mysql_native_password"));
    }

    #[test]
    fn every_truncation_of_the_greeting_fails_without_panicking() {
        let greeting = mariadb_greeting();
        // Cut inside the fixed part: always an error. (Cuts after the
        // capability flags are a valid pre-4.1 greeting or a short plugin name.)
        for cut in 0..45 {
            let outcome = parse_handshake(&greeting[..cut]);
            if cut < 18 {
                assert!(outcome.is_err(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn other_protocol_versions_are_unsupported() {
        let mut greeting = mariadb_greeting();
        greeting[0] = 9;
        assert_eq!(parse_handshake(&greeting).unwrap_err().kind, inlet_sdk::ErrorKind::Unsupported);
    }

    #[test]
    fn capabilities_are_the_intersection_minus_local_files() {
        let server = u32::MAX;
        let client = client_capabilities(server, false, false).unwrap();
        assert_eq!(client & caps::LOCAL_FILES, 0);
        assert_eq!(client & caps::CONNECT_WITH_DB, 0);
        assert_eq!(client & caps::SSL, 0);
        let client = client_capabilities(server, true, true).unwrap();
        assert_ne!(client & caps::CONNECT_WITH_DB, 0);
        assert_ne!(client & caps::SSL, 0);
        let old = server & !caps::PROTOCOL_41;
        assert_eq!(client_capabilities(old, false, false).unwrap_err().kind, inlet_sdk::ErrorKind::Unsupported);
        // Not offered, not asked for.
        let no_eof = client_capabilities(server & !caps::DEPRECATE_EOF, false, false).unwrap();
        assert_eq!(no_eof & caps::DEPRECATE_EOF, 0);
    }

    #[test]
    fn ssl_request_is_32_bytes() {
        let request = ssl_request(caps::PROTOCOL_41 | caps::SSL);
        assert_eq!(request.len(), 32);
        assert_eq!(&request[..4], &(caps::PROTOCOL_41 | caps::SSL).to_le_bytes());
        assert_eq!(request[8], UTF8MB4_GENERAL_CI);
    }

    #[test]
    fn handshake_response_layout() {
        let capabilities = caps::PROTOCOL_41
            | caps::SECURE_CONNECTION
            | caps::PLUGIN_AUTH
            | caps::PLUGIN_AUTH_LENENC_CLIENT_DATA
            | caps::CONNECT_WITH_DB;
        let response = HandshakeResponse {
            capabilities,
            username: "bob",
            auth_response: &[1, 2, 3],
            database: Some("shop"),
            auth_plugin: "mysql_native_password",
        };
        let bytes = handshake_response(&response).unwrap();
        let mut expected = ssl_request(capabilities);
        expected.extend_from_slice(b"bob\0");
        expected.extend_from_slice(&[3, 1, 2, 3]);
        expected.extend_from_slice(b"shop\0mysql_native_password\0");
        assert_eq!(bytes, expected);
        let bad = HandshakeResponse { username: "a\0b", ..response };
        assert_eq!(handshake_response(&bad).unwrap_err().kind, inlet_sdk::ErrorKind::Config);
    }

    #[test]
    fn auth_switch_requests_parse() {
        let mut payload = vec![0xFE];
        payload.extend_from_slice(b"caching_sha2_password\0");
        payload.extend_from_slice(b"01234567890123456789\0");
        let (plugin, data) = parse_auth_switch(&payload).unwrap();
        assert_eq!(plugin, "caching_sha2_password");
        assert_eq!(data, b"01234567890123456789");
        assert!(parse_auth_switch(&[0xFE, b'x']).is_err());
    }
}
