//! The HTTPS listener's rustls configuration, from the operator's pair or the
//! self-signed one made at first start.

use std::sync::Arc;

use gatehouse_core::bootstrap::TlsPair;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::StartError;

/// A rustls server configuration (ring provider, TLS 1.2 and 1.3, ALPN h2 then
/// http/1.1) serving `pair`.
pub fn server_config(pair: &TlsPair) -> Result<Arc<ServerConfig>, StartError> {
    let certs = CertificateDer::pem_slice_iter(pair.certificate_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StartError::Tls(format!("certificate: {e}")))?;
    if certs.is_empty() {
        return Err(StartError::Tls(
            "certificate: no PEM certificate found".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(pair.key_pem.expose().as_bytes())
        .map_err(|e| StartError::Tls(format!("key: {e}")))?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| StartError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| StartError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
