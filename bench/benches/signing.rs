//! Token signing, the CPU cost of every token response: an access token and an ID
//! token each take one signature. Run: `cargo bench -p gatehouse-bench --bench signing`.

// A benchmark that cannot set up has nothing to measure: failing loudly is right.
#![allow(clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_core::oidc::keys::{SigningKey, generate_rsa_pair};
use openidconnect::PrivateSigningKey;

const MESSAGE: &[u8] =
    b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSIsImF1ZCI6ImdyYWZhbmEiLCJleHAiOjE3NjQ0MzIwMDB9";

fn signing(c: &mut Criterion) {
    let rsa = generate_rsa_pair("bench", time::OffsetDateTime::UNIX_EPOCH).expect("RSA pair");
    let rsa = SigningKey::from_pem(&rsa.key_pem).expect("RSA key");
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .expect("P-256 pair")
        .serialize_pem();
    let ec = SigningKey::from_pem(&ec).expect("P-256 key");
    for (name, key) in [("RS256 (RSA 2048)", &rsa), ("ES256 (P-256)", &ec)] {
        c.bench_function(&format!("sign {name}"), |b| {
            b.iter(|| {
                key.sign(&key.algorithm(), black_box(MESSAGE))
                    .expect("signs")
            })
        });
    }
}

criterion_group!(benches, signing);
criterion_main!(benches);
