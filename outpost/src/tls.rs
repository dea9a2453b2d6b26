//! TLS towards the core: the system's CA certificates, or (only when the operator
//! sets `GATEHOUSE_INSECURE`) no verification at all.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::control::ControlError;

/// The client configuration for the control channel.
pub fn client_config(danger_insecure: bool) -> Result<Arc<ClientConfig>, ControlError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ControlError::Tls(e.to_string()))?;
    let config = if danger_insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(DangerAcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::warn!(%error, "cannot read a system CA certificate");
        }
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(ControlError::Tls(
                "no CA certificates found on this system to verify the core with".into(),
            ));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// Accepts any certificate, checking only that the handshake signatures are sound.
/// What `GATEHOUSE_INSECURE` asks for: anyone on the path can pose as the core.
#[derive(Debug)]
struct DangerAcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for DangerAcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The HTTPS listener's certificate and key: the operator's
/// (`GATEHOUSE_TLS__CERTIFICATE`, `GATEHOUSE_TLS__KEY`), or a self-signed pair for
/// `localhost` made now.
pub fn listener_key(
    settings: &gatehouse_config::TlsSettings,
) -> Result<Arc<rustls::sign::CertifiedKey>, String> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;

    let (certs, key) = match (&settings.certificate, &settings.key) {
        (Some(certificate), Some(key)) => {
            let certs = CertificateDer::pem_file_iter(certificate)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|e| {
                    format!(
                        "GATEHOUSE_TLS__CERTIFICATE ({}): {e}",
                        certificate.display()
                    )
                })?;
            if certs.is_empty() {
                return Err(format!(
                    "GATEHOUSE_TLS__CERTIFICATE ({}): no PEM certificate in it",
                    certificate.display()
                ));
            }
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("GATEHOUSE_TLS__KEY ({}): {e}", key.display()))?;
            (certs, key)
        }
        _ => {
            let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
                .map_err(|e| format!("self-signed certificate: {e}"))?;
            let key = PrivateKeyDer::try_from(pair.signing_key.serialize_der())
                .map_err(|e| format!("self-signed key: {e}"))?;
            (vec![pair.cert.der().clone()], key)
        }
    };
    let signing = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("TLS key: {e}"))?;
    Ok(Arc::new(rustls::sign::CertifiedKey::new(certs, signing)))
}
