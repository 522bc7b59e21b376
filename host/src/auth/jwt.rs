//! JWTs issued by the product (HS256 shared secret or RS256 public key),
//! carrying organization, subject, role and workspaces.
//!
//! Enforced: the signature, `exp` (required), `nbf` and `iat` (a token
//! issued in the future is refused), each with [`LEEWAY_S`] of clock skew,
//! and `iss` / `aud` when the deployment names them
//! (`INLET_JWT_ISSUER`, `INLET_JWT_AUDIENCE`).

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::Deserialize;
use thiserror::Error;

use super::{Principal, Role};

#[derive(Debug, Error)]
pub enum JwtError {
    #[error("invalid JWT configuration: {0}")]
    Config(String),
    #[error("invalid token")]
    Invalid,
}

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_S: u64 = 60;

/// How JWTs are verified; absent when the deployment issues none.
#[derive(Clone)]
pub struct JwtConfig {
    key: DecodingKey,
    validation: Validation,
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    org: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    workspaces: Option<Vec<String>>,
    #[serde(default)]
    iat: Option<i64>,
}

impl JwtConfig {
    /// HS256 with a shared secret (at least 32 bytes).
    pub fn hs256(secret: &[u8]) -> Result<Self, JwtError> {
        if secret.len() < 32 {
            return Err(JwtError::Config("the HS256 secret must be at least 32 bytes".into()));
        }
        Ok(Self { key: DecodingKey::from_secret(secret), validation: validation(Algorithm::HS256) })
    }

    /// RS256 with a PEM public key.
    pub fn rs256(public_key_pem: &[u8]) -> Result<Self, JwtError> {
        let key = DecodingKey::from_rsa_pem(public_key_pem).map_err(|e| JwtError::Config(e.to_string()))?;
        Ok(Self { key, validation: validation(Algorithm::RS256) })
    }

    /// Requires `iss` to be `issuer` (when given) and `aud` to contain
    /// `audience` (when given); a token without the claim is refused.
    pub fn with_issuer_and_audience(mut self, issuer: Option<&str>, audience: Option<&str>) -> Self {
        let mut required: Vec<&str> = vec!["exp", "sub"];
        if let Some(issuer) = issuer {
            self.validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        if let Some(audience) = audience {
            self.validation.set_audience(&[audience]);
            self.validation.validate_aud = true;
            required.push("aud");
        }
        self.validation.set_required_spec_claims(&required);
        self
    }

    /// Verifies signature, times, issuer and audience and maps the claims to
    /// a principal.
    pub fn verify(&self, token: &str) -> Result<Principal, JwtError> {
        let claims = decode::<Claims>(token, &self.key, &self.validation).map_err(|_| JwtError::Invalid)?.claims;
        // The library checks exp and nbf; a token "issued" in the future is
        // forged or from a clock that cannot be trusted either.
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if claims.iat.is_some_and(|iat| iat > now.saturating_add(LEEWAY_S as i64)) {
            return Err(JwtError::Invalid);
        }
        // The most powerful role named wins; an unknown role is refused rather than ignored.
        let mut names = claims.roles;
        names.extend(claims.role);
        let role = names
            .iter()
            .map(|name| name.parse::<Role>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| JwtError::Invalid)?
            .into_iter()
            .max()
            .ok_or(JwtError::Invalid)?;
        let workspaces = if role >= Role::OrgAdmin { None } else { Some(claims.workspaces.unwrap_or_default()) };
        Ok(Principal { actor: format!("jwt:{}", claims.sub), org_id: Some(claims.org), role, workspaces })
    }
}

fn validation(algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation.validate_nbf = true;
    // An audience is checked only when the deployment names one.
    validation.validate_aud = false;
    validation.leeway = LEEWAY_S;
    validation
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn sign(claims: serde_json::Value) -> String {
        encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET)).expect("sign")
    }

    fn exp() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp() + 600
    }

    #[test]
    fn valid_tokens_become_principals() {
        let config = JwtConfig::hs256(SECRET).expect("config");
        let token = sign(json!({"sub": "u1", "org": "o1", "roles": ["member"], "workspaces": ["w1"], "exp": exp()}));
        let principal = config.verify(&token).expect("valid");
        assert_eq!(principal.role, Role::Member);
        assert_eq!(principal.org_id.as_deref(), Some("o1"));
        assert_eq!(principal.workspaces, Some(vec!["w1".to_owned()]));
        assert_eq!(principal.actor, "jwt:u1");
    }

    #[test]
    fn expired_forged_and_strange_tokens_are_refused() {
        let config = JwtConfig::hs256(SECRET).expect("config");
        let expired = sign(json!({"sub": "u", "org": "o", "role": "member", "exp": 1000}));
        assert!(config.verify(&expired).is_err());
        let unknown_role = sign(json!({"sub": "u", "org": "o", "role": "god", "exp": exp()}));
        assert!(config.verify(&unknown_role).is_err());
        let no_role = sign(json!({"sub": "u", "org": "o", "exp": exp()}));
        assert!(config.verify(&no_role).is_err());
        let other = JwtConfig::hs256(b"another-secret-another-secret-xx").expect("config");
        let token = sign(json!({"sub": "u", "org": "o", "role": "member", "exp": exp()}));
        assert!(other.verify(&token).is_err());
        assert!(JwtConfig::hs256(b"short").is_err());
    }

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    #[test]
    fn nbf_and_iat_in_the_future_are_refused_beyond_the_leeway() {
        let config = JwtConfig::hs256(SECRET).expect("config");
        let base = json!({"sub": "u", "org": "o", "role": "member", "exp": exp()});
        let with = |claim: &str, at: i64| {
            let mut claims = base.clone();
            claims[claim] = json!(at);
            sign(claims)
        };
        assert!(config.verify(&with("nbf", now() + 600)).is_err(), "not valid before ten minutes from now");
        assert!(config.verify(&with("nbf", now() + 10)).is_ok(), "within the leeway");
        assert!(config.verify(&with("nbf", now() - 10)).is_ok());
        assert!(config.verify(&with("iat", now() + 600)).is_err(), "issued in the future");
        assert!(config.verify(&with("iat", now() + 10)).is_ok(), "within the leeway");
        assert!(config.verify(&with("iat", now() - 3600)).is_ok());
    }

    #[test]
    fn issuer_and_audience_are_enforced_when_configured() {
        let claims = |extra: serde_json::Value| {
            let mut claims = json!({"sub": "u", "org": "o", "role": "member", "exp": exp()});
            for (key, value) in extra.as_object().expect("object") {
                claims[key] = value.clone();
            }
            sign(claims)
        };
        let open = JwtConfig::hs256(SECRET).expect("config");
        assert!(open.verify(&claims(json!({}))).is_ok());
        assert!(open.verify(&claims(json!({"iss": "anyone", "aud": "anything"}))).is_ok());
        let strict = JwtConfig::hs256(SECRET)
            .expect("config")
            .with_issuer_and_audience(Some("https://id.example"), Some("inlet"));
        assert!(strict.verify(&claims(json!({"iss": "https://id.example", "aud": "inlet"}))).is_ok());
        assert!(strict.verify(&claims(json!({"iss": "https://id.example", "aud": ["other", "inlet"]}))).is_ok());
        assert!(strict.verify(&claims(json!({"iss": "https://evil.example", "aud": "inlet"}))).is_err());
        assert!(strict.verify(&claims(json!({"iss": "https://id.example", "aud": "other"}))).is_err());
        assert!(strict.verify(&claims(json!({"aud": "inlet"}))).is_err(), "no issuer");
        assert!(strict.verify(&claims(json!({"iss": "https://id.example"}))).is_err(), "no audience");
    }
}
