//! The soft-heal hook is called straight, never through a proxy from the environment: a proxy
//! would carry the signed request (good for the signature window) elsewhere. Its own test
//! binary, as the proxy is set in the process's environment, which every test of a binary
//! shares.

#[path = "common/hook.rs"]
mod hook;

use edgeheal_healer::config::SoftHealConfig;
use edgeheal_healer::softheal::SoftHealer;
use hook::{Answer, Hook};

/// 2026-11-21T10:00:00Z
const T0: i64 = 1_795_255_200;

#[tokio::test]
async fn the_hook_is_called_straight_whatever_proxy_the_environment_names() {
    // A proxy that refuses every connection: a call through it would fail.
    let nowhere = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"] {
        std::env::set_var(name, &nowhere);
    }
    for name in ["NO_PROXY", "no_proxy"] {
        std::env::remove_var(name);
    }
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, b"soft-heal-secret-0123456789").unwrap();
    let healer = SoftHealer::new(&SoftHealConfig {
        annotation: "edgeheal.io/soft-heal-url".into(),
        key_id: "healer".into(),
        key_file,
        timeout_secs: 5,
        cluster_domain: "cluster.local".into(),
    })
    .unwrap();
    let hook = Hook::start(&[Answer::Status(200)]).await;
    let detail = healer
        .call(
            &hook.url("/heal"),
            &serde_json::json!({"incident_id": 7}),
            "7-0",
            T0,
        )
        .await
        .unwrap();
    assert_eq!(detail, "hook answered 200");
    assert_eq!(hook.hits(), 1);
}
